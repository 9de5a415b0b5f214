"""largebatch-sim: the large-batch SGD papers in miniature, from scratch on NumPy and CuPy."""

__version__ = "0.1.0"
