"""Two ways to get the noise instrument's per-chunk squared norms |dW_c|^2 of a linear layer,
against the plain weight gradient dW = X^T D, on the MLP's shapes (chunks of 32 examples):

- chunked (what ``nn.Linear.backward`` does): dW_c = X_c^T D_c as one batched product, then
  |dW_c|^2 and dW = sum_c dW_c;
- Gram: |X_c^T D_c|^2 = sum((X_c X_c^T) * (D_c D_c^T)), from two batched n x n products,
  beside the plain dW;
- the batched product alone (the chunked form without its norms and sum): the least the chunked
  form can cost, whatever fuses its norms and sum into it, on NumPy's BLAS.

    OMP_NUM_THREADS=1 python benchmarks/noise_chunk_forms.py [--repeats 30]

The four take turns (``paired_median_times``); the table is printed as Markdown for
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd
from run import machine, paired_median_times

from largebatch_sim.nn.base import sq_norms, sum_chunks

CHUNK = 32  # B_small
LAYERS = {"fc1": (40, 128), "fc2": (128, 128), "fc3": (128, 10)}  # the MLP on MNIST-1D


def forms(batch: int, fan_in: int, fan_out: int) -> dict[str, Callable[[], object]]:
    """The plain product and the two chunk-norm forms on random float32 inputs."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, batch, fan_in)).astype(np.float32)
    d = rng.normal(size=(1, batch, fan_out)).astype(np.float32)
    k = batch // CHUNK
    xc, dc = x.reshape(1, k, CHUNK, fan_in), d.reshape(1, k, CHUNK, fan_out)

    def plain() -> None:
        x.transpose(0, 2, 1) @ d

    def chunked() -> None:
        dw = product()
        sq_norms(dw), sum_chunks(dw)

    def product() -> np.ndarray:
        return xc.transpose(0, 1, 3, 2) @ dc

    def gram() -> None:
        gram_norms(), x.transpose(0, 2, 1) @ d

    def gram_norms() -> np.ndarray:
        gx, gd = xc @ xc.transpose(0, 1, 3, 2), dc @ dc.transpose(0, 1, 3, 2)
        return np.vecdot(gx.reshape(1, k, -1), gd.reshape(1, k, -1))

    np.testing.assert_allclose(gram_norms(), sq_norms(product()), rtol=1e-3)  # the same norms
    return {"plain dW": plain, "chunked": chunked, "Gram": gram, "product alone": product}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for batch in (256, 4096):
        for layer, (fan_in, fan_out) in LAYERS.items():
            steps = forms(batch, fan_in, fan_out)
            times = paired_median_times(list(steps.values()), args.repeats)
            row = {"layer": layer, "batch": batch, "shape": f"{fan_in} x {fan_out}"}
            rows.append(row | {f"{name} ms": 1e3 * t for name, t in zip(steps, times, strict=True)})
    print(machine())
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
