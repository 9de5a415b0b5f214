"""After LARS: LEGW (You et al. 2019) and LAMB (You et al. 2020), reproduced in notebook 05.

Accuracies are test accuracies in percent (pts); thresholds in seed spreads with absolute
floors of 1 to 2 pts, as for the LARS targets.
"""

from __future__ import annotations

from ..criteria import AllOf, Difference, Match, Spread
from . import family

NOTEBOOK = "05_beyond_lars"
PTS = " pts"
MODELS = ("mlp", "cnn_bn")  # LAMB-T1 on an MLP and on a BN convolutional net

_gws = family("GradualWarmupScheduler (PyTorch) against Goyal et al. 2017", NOTEBOOK)
_legw = family("You et al. 2019 (LEGW)", NOTEBOOK)
_lamb = family("You et al. 2020 (LAMB)", NOTEBOOK)


def _lamb_scales(model: str) -> tuple[tuple[str, Match | Difference], ...]:
    return (
        (
            f"{model}: LAMB at the large batch keeps AdamW's small-batch accuracy",
            Match("lamb_large", "adamw_small", 2.0, unit=PTS),
        ),
        (
            f"{model}: LAMB beats AdamW at the large batch",
            Difference("lamb_large", "adamw_large", "greater", floor=1.0, unit=PTS),
        ),
    )


TARGETS = (
    _gws(
        "GW-F1",
        "the warmup of the PyTorch scheduler, stepped per epoch, against the per-iteration ramp",
        "Stepped once per epoch with multiplier 1, the scheduler trains its whole first epoch at "
        "lr = 0, so the loss does not fall there, and stepping it once before training restores "
        "the descent; its staircase, jumping once per epoch, ends less accurate at a large batch "
        "than Goyal et al.'s ramp, which raises the rate every iteration.",
        "qualitative (the scheduler's own rates; Goyal et al. section 2.2).",
        "per seed, the BN CNN on MNIST-1D at k = 16 times the base batch with linear scaling: "
        "the loss drop over the first epoch (loss trace: first step minus the mean of the "
        "epoch's last 4 steps) of the ramp, the scheduler from 0 and the scheduler stepped once "
        "first; the final test accuracy of the ramp and the staircase from the small-batch rate.",
        AllOf(
            (
                (
                    "multiplier 1 trains nothing in its first epoch",
                    Difference("gradual", "staircase_from_0", "greater", floor=0.05),
                ),
                (
                    "stepping once first restores it",
                    Difference("shifted_from_0", "staircase_from_0", "greater", floor=0.05),
                ),
                (
                    "the ramp ends more accurate than the staircase",
                    Difference("gradual_acc", "staircase_acc", "greater", floor=0.5, unit=PTS),
                ),
            )
        ),
    ),
    _legw(
        "LEGW-F1",
        "accuracy vs k with one tuning at the base batch",
        "Tuned once at B0, LEGW (rate x sqrt(k), warmup epochs x k) keeps the accuracy up to "
        "k = 64 without retuning, where linear scaling or sqrt scaling with a fixed warmup lose "
        "it.",
        "LSTM batch x64 without accuracy loss and without retuning; ResNet-50 to 32K (reported).",
        "per seed, the MLP on MNIST-1D tuned once at B0 = 32 (rate and warmup), then run at "
        "k = B / B0 up to 64 with each rule for the same epochs: test accuracy at k = 1 and at "
        "the largest k.",
        AllOf(
            (
                ("LEGW holds the accuracy", Match("legw_kmax", "base", 2.0, unit=PTS)),
                (
                    "LEGW beats linear + fixed warmup",
                    Difference("legw_kmax", "linear_kmax", "greater", floor=1.0, unit=PTS),
                ),
                (
                    "LEGW beats sqrt + fixed warmup",
                    Difference("legw_kmax", "sqrt_kmax", "greater", floor=1.0, unit=PTS),
                ),
            )
        ),
    ),
    _lamb(
        "LAMB-T1",
        "best accuracy vs batch for SGD, AdamW, LARS and LAMB",
        "LAMB trains at a large batch to the accuracy AdamW reaches at a small one, and beats "
        "AdamW at the large batch.",
        "BERT-Large SQuAD F1 90.395 at 512 (baseline), 91.460 at 32K, 90.584 at 64K/32K "
        "(reported).",
        "per seed, each optimizer at its best rate per batch (tuned on one seed with the grid "
        "extended off its edges, rerun on three), on the MLP and on the BN CNN (cnn_bn), "
        "MNIST-1D, same epochs at every batch: test accuracy.",
        AllOf(tuple(part for model in MODELS for part in _lamb_scales(model))),
    ),
    _lamb(
        "LAMB-F1",
        "per-layer trust ratios over training",
        "LAMB's trust ratio ||w|| / ||r + lambda w|| differs from layer to layer by an order of "
        "magnitude or more, so the per-layer normalisation matters for Adam's direction too.",
        "qualitative.",
        "the BN CNN at the large batch with LAMB at its tuned rate: each adapted tensor's "
        "median trust ratio over training (seed 0).",
        Spread(min_ratio=10),
    ),
)
