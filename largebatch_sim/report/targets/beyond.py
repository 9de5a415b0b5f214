"""After LARS: LEGW (You et al. 2019), LAMB (You et al. 2020), batch augmentation (Hoffer et
al. 2020) and AutoWU (Kim et al. 2021), reproduced in notebook 05.

Accuracies are test accuracies in percent (pts); thresholds in seed spreads with absolute
floors of 1 to 2 pts, as for the LARS targets.
"""

from __future__ import annotations

from ..criteria import AllOf, Difference, InRange, Match, Spread
from . import family

NOTEBOOK = "05_beyond_lars"
PTS = " pts"
MODELS = ("mlp", "cnn_bn")  # LAMB-T1 on an MLP and on a BN convolutional net

_gws = family("GradualWarmupScheduler (PyTorch) against Goyal et al. 2017", NOTEBOOK)
_legw = family("You et al. 2019 (LEGW)", NOTEBOOK)
_lamb = family("You et al. 2020 (LAMB)", NOTEBOOK)
_ba = family("Hoffer et al. 2020 (batch augmentation)", NOTEBOOK)
_aw = family("Kim et al. 2021 (AutoWU)", NOTEBOOK)
AW_BATCHES = ("small", "large")  # AW-T1's two batches, named in its parts
AW_TOLERANCE = 1.5  # pts: the paper's half point is below our seed spread on MNIST-1D


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
    _ba(
        "BA-F1",
        "accuracy against steps for M augmented copies per example",
        "With M augmented copies of each of the B unique examples in a batch (the same B, steps "
        "and schedule), training reaches the single copy's final accuracy in fewer steps and "
        "ends more accurate.",
        "fewer SGD updates to the same accuracy and a better final accuracy (ResNet-44 + cutout "
        "on CIFAR-10, M = 40; reported).",
        "per seed, the MLP on MNIST-1D at a fixed batch of unique examples and a fixed number of "
        "steps with M = 1, 2, 4, 8 copies (MNIST-1D's shift, time scaling and noise at strength "
        "1): the final test accuracy, and the fraction of the run until the test accuracy first "
        "reaches M = 1's mean final accuracy (never: 1), at M = 1 and the largest M.",
        AllOf(
            (
                (
                    "the most copies end more accurate",
                    Difference("most_copies", "one_copy", "greater", floor=0.5, unit=PTS),
                ),
                (
                    "the most copies reach M = 1's accuracy sooner",
                    Difference("most_copies", "one_copy", "less", floor=0.1),
                ),
            )
        ),
    ),
    _ba(
        "BA-F2",
        "gradient noise against the number of copies",
        "Averaging an example's gradient over M augmented copies lowers the gradient's variance: "
        "tr(Sigma) per unique example, and with it the simple noise scale B_simple, fall as M "
        "grows.",
        "qualitative (the paper's explanation of BA-F1).",
        "per seed, BA-F1's runs with the noise instrument (4 chunks, whole groups of copies): "
        "tr(Sigma) and B_simple per unique example (the instrument's over M), averaged over "
        "training, relative to M = 1's mean, at M = 1 and the largest M.",
        AllOf(
            (
                (
                    "tr(Sigma) falls with the copies",
                    Difference("most_copies", "one_copy", "less", floor=0.1),
                ),
                (
                    "B_simple falls with the copies",
                    Difference("most_copies", "one_copy", "less", floor=0.1),
                ),
            )
        ),
    ),
    _aw(
        "AW-T1",
        "AutoWU without tuning against the tuned gradual warmup, per batch",
        "AutoWU, with no tuning (one wide rate range for every batch), ends within about half a "
        "point of a gradual warmup and decay tuned per batch.",
        "ResNet-50 on ImageNet: 75.70 % at 4K, 75.22 % at 16K, within about half a point of the "
        "tuned baselines (reported).",
        "per seed, the MLP on MNIST-1D at a small and a large batch, same epochs: AutoWU (an "
        "exponential warmup over 4 decades up to 10, at most half of training, about 45 tests "
        "over that warmup (every step when it is shorter), cosine decay) against SGD with a "
        "1-epoch gradual warmup and cosine decay at its best rate (tuned on one seed, the grid "
        "extended off its edges, rerun on three): final test accuracy, within "
        f"{AW_TOLERANCE:g} pts (the paper's half point is below our seed spread).",
        AllOf(
            tuple(
                (
                    f"{size} batch: AutoWU matches the tuned warmup",
                    Match("auto", "tuned", AW_TOLERANCE, unit=PTS),
                )
                for size in AW_BATCHES
            )
        ),
    ),
    _aw(
        "AW-F1",
        "the rate and the GP-smoothed loss over one run, the switch marked",
        "AutoWU's test ends the warmup on its own, once the smoothed loss has passed its "
        "minimum, well before the maximal warmup.",
        "qualitative.",
        "AW-T1's AutoWU runs at the large batch: the step of the switch as a fraction of the "
        "maximal warmup (1 where the test never switched), mean of the seeds.",
        InRange(0.0, 0.9, slack=0.1, name="switch step / maximal warmup"),
    ),
)
