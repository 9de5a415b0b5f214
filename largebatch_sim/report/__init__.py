"""Presentation: plot helpers, the scorecard, the notebooks' shared setup."""
