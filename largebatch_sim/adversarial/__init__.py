"""Adversarial examples for large-batch training: FGSM from the input gradient and ConAdv's
examples from weights tau steps stale (Liu et al. 2022)."""
