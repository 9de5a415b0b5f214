"""You, Gitman, Ginsburg 2017, "Large Batch Training of Convolutional Networks" (LARS).

Accuracies are test accuracies in percent (pts). Thresholds in seed spreads where seeds exist;
absolute floors of 1 to 2 pts keep a tiny spread from making a negligible effect count.
"""

from __future__ import annotations

from ..criteria import AllOf, Difference, InRange, Match, Spread
from . import family

NOTEBOOK = "02_lars"
PTS = " pts"


_target = family("You, Gitman, Ginsburg 2017", NOTEBOOK)


TARGETS = (
    _target(
        "L-T1",
        "Table 1: accuracy on (batch, lr) grids without LARS",
        "Without LARS the LRN net loses accuracy at the large batch, and batch norm loses much "
        "less.",
        "LRN: 58.8 at 512 -> 53.1 at 4k, 44.8 at 8k; BN: 60.2 at 512 -> 58.9 at 4k, 58.0 at "
        "8k (drops of 14.0 vs 2.2 pts at 8k).",
        "per seed: best accuracy over the lr grid (tuned on one seed, rerun on five) at the "
        "smallest and largest batch, >= 150 steps at the largest; the drop small - large.",
        AllOf(
            (
                (
                    "LRN drops",
                    Difference("lrn_small", "lrn_large", "greater", floor=2.0, unit=PTS),
                ),
                (
                    "BN drops less",
                    Difference("lrn_drop", "bn_drop", "greater", floor=1.0, unit=PTS),
                ),
            )
        ),
    ),
    _target(
        "L-T2",
        "Table 2: ||w|| / ||grad w|| per layer after the first iteration",
        "The ratio ||w|| / ||grad w|| spreads widely across layers, so one global rate cannot "
        "suit every layer.",
        "weight ratios 5.76 (conv1) to 1345 (fc6): a 234x spread; biases 8.5 to 117.",
        "ratios of the LRN net's weight tensors after one step, each tensor's median over the "
        "seeds (defined ratios only).",
        Spread(min_ratio=50),
    ),
    _target(
        "L-F-ratio",
        "the ratios over training",
        "The ratios are high at first and fall within the first epochs.",
        "qualitative.",
        "fraction of weight tensors (both nets, every seed) whose ratio at the end is below "
        "half its value at step 0.",
        InRange(0.75, 1.0, slack=0.25, name="fraction of tensors whose ratio fell 2x"),
    ),
    _target(
        "L-F1",
        "Figure 1: loss curves, small vs large batch",
        "The large batch trains slower, with the same generalisation gap.",
        "qualitative.",
        "per seed, SGD on the BN net at the smallest and largest batch: final training loss, "
        "and the gap test error - training error.",
        AllOf(
            (
                ("trains slower", Difference("large_loss", "small_loss", "greater", floor=0.05)),
                ("same gap", Match("large_gap", "small_gap", 2.0, unit=PTS)),
            )
        ),
    ),
    _target(
        "L-F2",
        "Figure 2: large-batch training with and without LARS",
        "At the largest batch LARS reaches a lower training loss than SGD with warmup.",
        "qualitative.",
        "per seed at the largest batch, each at its tuned rate: final training loss of SGD with "
        "warmup and of LARS.",
        Difference("sgd_warmup", "lars", "greater", floor=0.05),
    ),
    _target(
        "L-T3",
        "Table 3: best accuracy vs batch with LARS",
        "With LARS the large batch beats the best SGD with warmup, close to the small-batch "
        "accuracy.",
        "AlexNet-BN 512..32k: 60.2, 60.4, 60.1, 59.3, 57.8; AlexNet 58.7 .. 46.9; base lrs "
        "2 to 23.",
        "per seed at the largest batch: best accuracy of LARS and of SGD with warmup, each "
        "tuned on its own grid; and the best SGD at the smallest batch.",
        AllOf(
            (
                (
                    "LARS beats SGD+warmup",
                    Difference("lars_large", "sgd_large", "greater", floor=1.0, unit=PTS),
                ),
                ("close to small batch", Match("lars_large", "sgd_small", 3.0, unit=PTS)),
            )
        ),
    ),
    _target(
        "L-T5",
        "Table 5: longer training",
        "Training longer recovers large-batch accuracy.",
        "AlexNet-BN 32k: 57.8 at 100 epochs -> 59.9 at 200.",
        "per seed, LARS on the BN net at the largest batch: accuracy at 2x vs 1x the epochs.",
        Difference("2x", "1x", "greater", floor=1.0, unit=PTS),
    ),
    _target(
        "L-F3",
        "Figure 3: accuracy vs base lr with LARS",
        "With LARS the accuracy has a wide plateau in the base rate.",
        "qualitative: a wide plateau.",
        "width, in octaves, of the contiguous range of rates within 1 pt of the best "
        "(LARS, BN net, largest batch).",
        InRange(3.0, float("inf"), slack=1.0, name="plateau width (octaves)"),
    ),
    _target(
        "L-DIV",
        "the divergence thresholds",
        "Without BN the largest stable rate stays flat as the batch grows, even with warmup; "
        "with BN it grows.",
        "4k LRN diverges above 0.06 even with warmup.",
        "largest stable lr per batch (every smaller tried rate stable; a rate is stable when "
        "all its runs are, the two rates nearest each threshold run on every seed): growth in "
        "octaves from the smallest to the largest batch, LRN + warmup and BN.",
        AllOf(
            (
                ("LRN flat", InRange(-1.0, 1.0, slack=1.0, name="LRN + warmup growth (octaves)")),
                ("BN grows", InRange(1.0, float("inf"), slack=0.5, name="BN growth (octaves)")),
            )
        ),
    ),
    _target(
        "L-VAR",
        "the variants implementations disagree on",
        "The denominator form (||g|| + wd ||w|| as the paper, ||g + wd w|| as optax) does not "
        "matter.",
        "no numbers (an ablation of ours).",
        "per seed at the largest batch, each variant at its own tuned rate: accuracy, paper "
        "denominator vs optax's.",
        Match("optax", "paper", 1.0, unit=PTS),
    ),
)
