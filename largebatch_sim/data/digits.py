"""scikit-learn's handwritten digits: 1797 real 8x8 images, shipped with scikit-learn.

Nothing is downloaded: ``sklearn.datasets.load_digits`` reads a file inside the package. The
set is small (1437 training examples), so it serves the tour and quick checks; batch sweeps use
MNIST-1D (docs/DESIGN.md, "Data sizes").
"""

from __future__ import annotations

import numpy as np

from .dataset import STANDARDIZE_MODES, Dataset

N_TEST = 360  # 1797 = 1437 + 360, the 80/20 split


def load_digits(seed: int = 0, standardize: str | None = "global") -> Dataset:
    """Digits as (N, 1, 8, 8): 1437 training and 360 test images, split at random by
    ``np.random.default_rng(seed)``; pixel values (0..16) scaled to [0, 1], then standardised
    with the training split's statistics (``standardize``: ``global`` (default), ``channel``,
    ``feature`` or None; per-feature statistics would blow up the rarely inked border
    pixels)."""
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if standardize is not None and standardize not in STANDARDIZE_MODES:
        raise ValueError(
            f"standardize must be one of {STANDARDIZE_MODES} or None, got {standardize!r}"
        )
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:N_TEST], order[N_TEST:]
    data = Dataset("digits", x[train], y[train], x[test], y[test], 10, (1, 8, 8))
    return data if standardize is None else data.standardize(standardize)
