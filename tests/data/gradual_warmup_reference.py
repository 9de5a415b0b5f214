"""Record the learning rates that ildoonet's GradualWarmupScheduler (PyPI warmup-scheduler 0.3)
gives, so that tests/test_gradual_warmup.py can check ours against them without PyTorch.

    pip install torch warmup-scheduler==0.3
    python tests/data/gradual_warmup_reference.py   # writes gradual_warmup_reference.json

Each case steps the scheduler ``calls`` times, as a training loop does: the rate of counter c
is read before the c-th ``scheduler.step()`` (the constructor already made one step). A
chainable ``after_scheduler`` such as CosineAnnealingLR is left out: PyTorch computes it from
the rate it finds, and the hand-over perturbs that (0.82 instead of 0.8 one step after a warmup
to 0.8), so it is not a function of the counter that a schedule could reproduce.
"""

import json
from pathlib import Path

import torch
from warmup_scheduler import GradualWarmupScheduler

BASE_LR = 0.1
CASES = {
    "multiplier 8, no after": dict(multiplier=8.0, total_epoch=5, after=None, calls=10),
    "multiplier 1, no after": dict(multiplier=1.0, total_epoch=5, after=None, calls=10),
    "multiplier 1, step after": dict(multiplier=1.0, total_epoch=4, after="step", calls=16),
}


def rates(multiplier: float, total_epoch: int, after: str | None, calls: int) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=BASE_LR)
    then = None
    if after == "step":
        then = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.1)
    scheduler = GradualWarmupScheduler(optimizer, multiplier, total_epoch, after_scheduler=then)
    seen = []
    for _ in range(calls):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen


if __name__ == "__main__":
    out = {
        "torch": torch.__version__,
        "base_lr": BASE_LR,
        "cases": {name: {**case, "rates": rates(**case)} for name, case in CASES.items()},
    }
    path = Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
