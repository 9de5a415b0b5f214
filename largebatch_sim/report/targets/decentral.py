"""Beyond one worker: DecentLaM (Yuan et al. 2021) and ConAdv (Liu et al. 2022), notebook 06.

Accuracies in percent (pts), thresholds in seed spreads with absolute floors as for the LARS
and LAMB targets. DL-F1 has no seeds (one least-squares problem, long averages): its thresholds
are stated factors, each well inside what the steady-state analysis predicts (DmSGD's bias is
decentralised SGD's at the step gamma / (1 - beta), a factor (1 - beta)^-2 = 25 to 400 for
beta = 0.8 to 0.95; DecentLaM's does not depend on beta), so that a factor 10 is one decade
short of the prediction rather than a line drawn through our data. CA-F1's bounds are on
ratios of times, stated with their reason in the metric.
"""

from __future__ import annotations

from ..criteria import AllOf, Difference, InRange, Match, Ordered, Trend
from . import family

NOTEBOOK = "06_decentralised_and_conadv"
PTS = " pts"
TOPOLOGIES = ("ring", "exponential")

_dl = family("Yuan et al. 2021 (DecentLaM)", NOTEBOOK)
_ca = family("Liu et al. 2022 (ConAdv)", NOTEBOOK)


def _decentlam_holds(topology: str) -> tuple[tuple[str, Difference | Match], ...]:
    return (
        (
            f"{topology}: DecentLaM beats DmSGD at the large batch",
            Difference("decentlam", "dmsgd", "greater", floor=1.0, unit=PTS),
        ),
        (
            f"{topology}: DecentLaM is close to PmSGD at the large batch",
            Match("decentlam", "pmsgd", 2.0, unit=PTS),
        ),
    )


TARGETS = (
    _dl(
        "DL-F1",
        "the inconsistency bias of DmSGD and DecentLaM on a strongly convex problem",
        "With heterogeneous nodes, DmSGD's steady-state bias grows with the momentum beta "
        "(momentum amplifies the inconsistency bias) and, with the step scaled linearly with "
        "the batch, dominates the error at large batch; DecentLaM removes the amplification.",
        "qualitative: DmSGD's inconsistency bias is amplified by momentum and dominates at "
        "large batch; DecentLaM removes it.",
        "least squares on 8 nodes of a ring, each with its own optimum, stochastic gradients of "
        "B rows per node, run to a steady state: the error (1/n) sum_i ||x_i - x*||^2 averaged "
        "over the second half of the run; the excess of a method is its error minus PmSGD's at "
        "the same setting (the gradient noise that all three share). Beta swept at a fixed "
        "batch and step; the batch swept at beta = 0.9 with the step scaled linearly. The "
        "closed-form full-gradient fixed point is shown beside it.",
        AllOf(
            (
                (
                    "DmSGD's excess grows with beta",
                    Trend("momentum", "value", "greater", min_rho=0.9, min_points=4),
                ),
                (
                    "DecentLaM's excess is 10x below DmSGD's at every beta >= 0.8",
                    Ordered(ratio=10, min_points=2),
                ),
                (
                    "DmSGD's error is 3x PmSGD's at the two largest batches",
                    Ordered(ratio=3, min_points=2),
                ),
                (
                    "DecentLaM's error is 3x below DmSGD's at the two largest batches",
                    Ordered(ratio=3, min_points=2),
                ),
            )
        ),
    ),
    _dl(
        "DL-T1",
        "test accuracy vs batch size, ring and exponential graphs",
        "On label-skewed nodes, DecentLaM at a large batch stays close to PmSGD (the all-reduce "
        "baseline), where DmSGD degrades.",
        "ImageNet up to a 32K batch (reported): DecentLaM close to PmSGD at large batch, where "
        "DmSGD degrades.",
        "per seed, the MLP on MNIST-1D over 8 nodes (label-skewed shards: one or two classes "
        "per node), all nodes starting from the same weights, momentum 0.9, the step scaled "
        "with the square root of the batch, same epochs at every batch: the average model's "
        "test accuracy at the largest global batch, for ring and exponential graphs.",
        AllOf(tuple(part for t in TOPOLOGIES for part in _decentlam_holds(t))),
    ),
    _ca(
        "CA-T1",
        "accuracy at the largest batch: plain, synchronous adversarial, ConAdv",
        "Adversarial examples from stale weights (tau = 1) keep the accuracy gain of "
        "synchronous adversarial training over plain large-batch training.",
        "ResNet-50 ImageNet at 96K (reported): ConAdv 75.3 %, ConAdv + augmentation 76.2 %.",
        "per seed, the MLP on MNIST-1D with LAMB at the large batch (FGSM radius 0.1 in units "
        "of the inputs' standard deviation, clean and adversarial losses with equal weights): "
        "test accuracy of plain training, tau = 0 and ConAdv at tau = 1 (tau = 2 shown). No "
        "data augmentation (the library has none for MNIST-1D).",
        AllOf(
            (
                (
                    "ConAdv (tau = 1) beats plain training",
                    Difference("conadv_tau1", "plain", "greater", floor=0.5, unit=PTS),
                ),
                (
                    "ConAdv (tau = 1) matches synchronous adversarial training",
                    Match("conadv_tau1", "adv_tau0", 1.5, unit=PTS),
                ),
            )
        ),
    ),
    _ca(
        "CA-F1",
        "time per step: sequential adversarial vs concurrent",
        "Computing the adversarial examples concurrently from stale weights removes the "
        "sequential adversarial pass, so a ConAdv step costs about as much as a plain one.",
        "qualitative (ConAdv's throughput close to plain training's).",
        "at the largest batch timed (one MLP, LAMB, this machine): the measured times of a "
        "plain step, the FGSM pass, the training pass on clean + adversarial, and a whole "
        "sequential adversarial step; the concurrent step modelled as max(FGSM, training pass). "
        "Bounds: the concurrent step at most 0.8 of the sequential one (the FGSM pass hidden "
        "behind the training pass saves a fifth or more), and at most 1.25 plain steps "
        "('about as much': within a quarter).",
        AllOf(
            (
                (
                    "concurrent below sequential",
                    InRange(0.0, 0.8, slack=0.1, name="concurrent / sequential"),
                ),
                (
                    "concurrent about plain",
                    InRange(0.0, 1.25, slack=0.25, name="concurrent / plain"),
                ),
            )
        ),
    ),
)
