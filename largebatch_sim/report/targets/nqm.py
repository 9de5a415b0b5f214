"""Zhang et al. 2019, "Which Algorithmic Choices Matter at Which Batch Sizes?" (the noisy
quadratic model). The model is computed exactly, so there are no seeds: thresholds are stated
absolutes on the shape of the curves."""

from __future__ import annotations

from ..criteria import AllOf, InRange, Ordered
from . import family

NOTEBOOK = "04_noisy_quadratic"


_target = family("Zhang et al. 2019", NOTEBOOK)
QUALITATIVE = "qualitative"  # the paper's claims come without numbers


TARGETS = (
    _target(
        "N-F1",
        "Figure 1: steps to target vs batch",
        "Perfect scaling (steps halve per doubling of B) at small batches, then diminishing "
        "returns.",
        QUALITATIVE,
        "steps to the target loss with the best rate per batch: the factor per doubling over "
        "the 4 smallest batches, and the saving of the last doubling.",
        AllOf(
            (
                ("perfect scaling", InRange(1.9, 2.1, slack=0.1, name="steps factor per doubling")),
                (
                    "diminishing returns",
                    InRange(0.0, 0.1, slack=0.1, name="last doubling's saving"),
                ),
            )
        ),
    ),
    _target(
        "N-F2",
        "Figure 2: momentum and preconditioning",
        "Momentum and preconditioning both raise the critical batch size, more with a higher "
        "preconditioning power.",
        QUALITATIVE,
        "critical batch (steps twice the perfect-scaling line) per setting; rows: momentum vs "
        "SGD, p = 0.25 vs SGD, 0.5 vs 0.25, 0.75 vs 0.5.",
        Ordered(ratio=1.2, min_points=4),
    ),
    _target(
        "N-F3",
        "Figure 3: best lr vs batch",
        "The best rate grows linearly with the batch up to the critical batch, then stays flat.",
        QUALITATIVE,
        "log-log slope of the best rate over the 4 smallest batches; its relative change over "
        "the last 3 doublings.",
        AllOf(
            (
                ("linear", InRange(0.8, 1.2, slack=0.2, name="log-log slope")),
                ("flat", InRange(0.0, 0.1, slack=0.1, name="change over the last 3 doublings")),
            )
        ),
    ),
)
