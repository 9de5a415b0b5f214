"""The critical batch size three ways, over training, with the gain adaptive systems use.

Three definitions of the critical batch on the same runs (notebook 03):

- McCandlish et al. 2018: B_crit = E_min / S_min of the Pareto hyperbola fitted to the steps
  to a target at the best rate per batch (``fits.fit_pareto``);
- Zhang et al. 2025 ("How Does Critical Batch Size Scale in Pre-training?"): the batch at which
  the steps to the target exceed perfect scaling (from the smallest batch) by 20 %;
- Merrill et al. 2025 ("Critical Batch Size Revisited"): branches from checkpoints of one run
  at several batches on the same examples; the largest batch whose progress keeps pace.

Under the hyperbola the 20 %-overhead batch is B_crit / 5 (plus a term in the smallest batch),
so the last two are put on the first's scale before B_simple is compared with them
(``branches.bcrit_from_overhead_batch``). The hypothesis judged (CBS-T1) is McCandlish et
al.'s, B_simple tracks B_crit within a small factor (3x, as in M-F4); Merrill et al. report the
noise scale to be a poor proxy for the critical batch they measure: a "no" sides with them.
AdaScale's gain and Pollux's statistical efficiency (``analysis/gain.py``) are McCandlish et
al.'s per-step progress relative to a base batch, with B_simple for B_noise (CBS-F2).
"""

from __future__ import annotations

from ..criteria import AllOf, InRange, TrendPerGroup, WithinFactor
from . import family

NOTEBOOK = "03_noise_scale"

_target = family("The critical batch size three ways", NOTEBOOK)


TARGETS = (
    _target(
        "CBS-F1",
        "B_crit against the loss (McCandlish et al. 2018, Fig. 4 and Table 1)",
        "The critical batch grows as the target loss falls, and so does B_simple measured at "
        "that loss.",
        "Table 1, B_crit at the start vs averaged over training: MNIST 20 / 200, SVHN 50 / "
        "500, CIFAR10 300 / 900, ImageNet 1000 / 15000 (3-15x).",
        "M-F1's sweeps at many more target losses: per (task, target) B_crit of the Pareto fit "
        "(bootstrap over batch sizes for its error) on fronts of >= 5 batch sizes, and B_simple "
        "of the task's noise run at that loss; rank correlation with the target per task.",
        AllOf(
            (
                ("B_crit grows", TrendPerGroup("target", "B_crit", "less", min_rho=0.6)),
                ("B_simple grows", TrendPerGroup("target", "B_simple", "less", min_rho=0.6)),
            )
        ),
    ),
    _target(
        "CBS-T1",
        "three definitions of the critical batch against B_simple (McCandlish et al. 2018; "
        "Zhang et al. 2025; Merrill et al. 2025)",
        "Declared hypothesis (McCandlish et al.): B_simple tracks the critical batch within a "
        "small factor whichever way it is measured. The alternative (Merrill et al.): the "
        "noise scale is a poor proxy for the critical batch measured directly (a no).",
        "McCandlish et al.: B_crit and B_simple within a small factor on image tasks. Zhang "
        "et al. (20 % overhead): the critical batch grows with the data, about D^0.46, and "
        "barely with model size. Merrill et al. (branches): near 0 at initialisation, it rises "
        "fast, then plateaus; the noise scale is a poor proxy for it (reported).",
        "per task at its middle target: B_simple of the noise run (a) against each definition "
        "on the Pareto fit's scale (b): the fit's B_crit, the 20 %-overhead batch of the same "
        "sweeps, and the branched batch (geometric mean over the branch seeds).",
        WithinFactor(factor=3.0, min_points=3),
    ),
    _target(
        "CBS-F2",
        "AdaScale's gain and Pollux's statistical efficiency against branches (Johnson et al. "
        "2020; Qiao et al. 2021)",
        "The gain r = (1 + B_simple / B0) / (1 + B_simple / B) computed from the instrument "
        "predicts the speed-up per step of batch B over B0 (and r / (B / B0) the progress per "
        "example kept).",
        "AdaScale: the gain sets the learning rate (lr x r) and counts a step as r base steps; "
        "Pollux: efficiency = gain / scale chooses the batch.",
        "per (task, checkpoint, branch seed, batch > B0): the speed-up per step measured by the "
        "branches over the gain from B_simple at the checkpoint; the median ratio.",
        InRange(1 / 1.5, 1.5, slack=0.5, name="median measured speed-up / gain"),
    ),
)
