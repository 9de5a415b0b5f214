"""How soon the explorer's live pane shows its first curves, and how long the whole run takes:
its default run (cnn_bn on digits, batch 256, 5 epochs, 8 learning rates as one ensemble), in
a fresh process as a page's kernel would run it (imports done, data not yet loaded).

    OMP_NUM_THREADS=1 python benchmarks/explorer_first_curves.py [repeats]

Times are measured from the Train button's handler to the first curves drawn (PNG ready to
send to the page) and to the end; the browser adds the transfer, milliseconds on localhost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

ONE_RUN = """
import time
from largebatch_sim.explore import live
from largebatch_sim.runs import ResultCache
pane = live.LivePane(ResultCache(CACHE))
firsts = []
draw = live.figures.live_curves
def timed(*args, **kwargs):
    png = draw(*args, **kwargs)
    firsts.append(time.perf_counter())
    return png
live.figures.live_curves = timed
start = time.perf_counter()
pane.train(pane.configs())
print(f"{firsts[0] - start:.2f} {time.perf_counter() - start:.2f} {len(firsts)}")
"""


def main(repeats: int = 3) -> None:
    print("| run | first curves (s) | whole run (s) | redraws |")
    print("|---:|---:|---:|---:|")
    for run in range(1, repeats + 1):
        with tempfile.TemporaryDirectory() as cache:
            code = ONE_RUN.replace("CACHE", repr(cache))
            env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            first, whole, redraws = out.stdout.split()
            print(f"| {run} | {first} | {whole} | {redraws} |", flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
