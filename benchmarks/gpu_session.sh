#!/usr/bin/env bash
# All the GPU work of a scarce GPU session in one command (docs/DESIGN.md, "On a GPU").
#
# On the GPU machine, from the repository root, with the wheels of benchmarks/gpu_wheels.txt
# carried in .whl:
#     OUT=/path/for/results bash benchmarks/gpu_session.sh
# Locally, a dry run on NumPy (tiny sizes, smoke notebooks, no wheels installed):
#     OUT=/tmp/gpuout GPU_SESSION_DRY=1 PY=.venv/bin/python WHEELS=no bash benchmarks/gpu_session.sh
#
# In order, each section under its own time limit so that a failure or a hang loses nothing
# else, the whole under GPU_SESSION_BUDGET seconds (285: under 5 minutes on an H200):
#   1. install the carried wheels into /tmp/site (the project itself by PYTHONPATH); versions
#   2. the gpu tests (CuPy equals NumPy); test modules whose packages the machine lacks (dask,
#      voila, selenium) fail to collect and are listed, the others still run
#   3. training steps, ours against PyTorch eager on the same GPU (run.py steps_gpu)
#   4. an ensemble of 64 against 64 PyTorch models one after another (run.py ensemble64)
#   5. the noise instrument's overhead (run.py noise)
#   6. where a CuPy step's host time goes (gpu_profile.py)
#   7. make figures (quick profile) on the GPU with what time is left, at most FIGURES_LIMIT
# Results, at most 8 files in $OUT: session.log (everything printed), env.log, pytest_gpu.log,
# bench_gpu.md, profile_gpu.md, figures_gpu.md, figures_gpu.log, figures_gpu.tar.gz.
#
# Variables: PY (python3), WHEELS (.whl; "no" installs nothing), GPU_SESSION_DRY (0),
# GPU_SESSION_BUDGET (285), SECTIONS (all: pytest steps ensemble noise profile figures),
# FIGURES (yes), FIGURES_PROFILE (quick; smoke when dry),
# FIGURES_LIMIT (150), FIGURES_JOBS (5; 2 when dry), REPEATS (20; 2 when dry).
set -uo pipefail

: "${OUT:?set OUT to the folder for the results}"
PY=${PY:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${GPU_SESSION_SITE:-/tmp/site}
DRY=${GPU_SESSION_DRY:-0}
BUDGET=${GPU_SESSION_BUDGET:-285}
FIGURES=${FIGURES:-yes}
FIGURES_LIMIT=${FIGURES_LIMIT:-150}
SECTIONS=${SECTIONS:-pytest steps ensemble noise profile figures}
if [[ $DRY == 1 ]]; then
  BACKEND=numpy DRY_FLAG=--dry
  REPEATS=${REPEATS:-2} FIGURES_PROFILE=${FIGURES_PROFILE:-smoke} FIGURES_JOBS=${FIGURES_JOBS:-2}
else
  BACKEND=cupy DRY_FLAG=
  REPEATS=${REPEATS:-20} FIGURES_PROFILE=${FIGURES_PROFILE:-quick} FIGURES_JOBS=${FIGURES_JOBS:-5}
fi
export PYTHONUNBUFFERED=1

cd "$(dirname "$0")/.." || exit 2
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
STATUS=()

# wants NAME: the section is in $SECTIONS (a rerun can repeat only what failed)
wants() { [[ " $SECTIONS " == *" $1 "* ]]; }

say() { printf '[%(%H:%M:%S)T +%3ds] %s\n' -1 "$SECONDS" "$*"; }

limit() { # limit WANT: WANT seconds, or what is left of the budget (less 10 s to gather results)
  local left=$((BUDGET - SECONDS - 10))
  if ((left < $1)); then echo "$left"; else echo "$1"; fi
}

# section NAME WANT LOG CMD...: CMD under `timeout`, its output appended to LOG ("-": this
# script's output); says how it ended and keeps a line for the status table.
section() {
  local name=$1 want=$2 log=$3
  shift 3
  local secs start rc how
  secs=$(limit "$want")
  if ((secs < 5)); then
    say "$name: skipped, the time budget is spent"
    STATUS+=("| $name | skipped (budget spent) | 0 |")
    return
  fi
  say "$name: start, limit ${secs}s"
  start=$SECONDS
  if [[ $log == - ]]; then
    timeout -k 5 "$secs" "$@"
  else
    timeout -k 5 "$secs" "$@" >>"$log" 2>&1
  fi
  rc=$?
  case $rc in
    0) how=ok ;;
    124 | 137) how="TIMED OUT (${secs}s)" ;;
    *) how="FAILED (exit $rc)" ;;
  esac
  say "$name: $how after $((SECONDS - start))s"
  STATUS+=("| $name | $how | $((SECONDS - start)) |")
  if [[ $log != - && $how != ok ]]; then
    echo "--- the end of $(basename "$log"):"
    tail -n 20 "$log"
  fi
}

descendants() { # descendants PID: every process below PID, read from /proc (no ps needed)
  local -A parent=()
  local stat line rest pid ppid
  for stat in /proc/[0-9]*/stat; do
    read -r line <"$stat" 2>/dev/null || continue
    pid=${line%% *}
    rest=${line##*) }
    read -r _ ppid _ <<<"$rest"
    parent[$pid]=$ppid
  done
  local -a queue=("$1") found=()
  while ((${#queue[@]})); do
    local p=${queue[0]}
    queue=("${queue[@]:1}")
    for pid in "${!parent[@]}"; do
      if [[ ${parent[$pid]} == "$p" ]]; then
        found+=("$pid")
        queue+=("$pid")
      fi
    done
  done
  echo "${found[@]}"
}

# tree_timeout SECS CMD...: like `timeout`, but at the limit it also ends every descendant by
# its id: papermill starts each Jupyter kernel in a session of its own, which `timeout` misses.
tree_timeout() {
  local secs=$1 waited=0 pid tree
  shift
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= secs)); then
      tree=$(descendants "$pid")
      # shellcheck disable=SC2086  # the ids are words
      kill -TERM "$pid" $tree 2>/dev/null
      sleep 3
      # shellcheck disable=SC2086
      kill -KILL "$pid" $tree 2>/dev/null
      wait "$pid" 2>/dev/null
      return 124
    fi
    sleep 1
    waited=$((waited + 1))
  done
  wait "$pid"
}

install_wheels() {
  if [[ $WHEELS == no ]]; then
    say "install: skipped (WHEELS=no), the interpreter's own packages are used"
    export PYTHONPATH=$PWD
    return
  fi
  if ! compgen -G "$WHEELS/*.whl" >/dev/null; then
    say "ERROR: no wheels in '$WHEELS'. Carry them: run with carry [\".whl\"] after making the"
    say "folder as benchmarks/gpu_wheels.txt says (or WHEELS=no where papermill is installed)."
    exit 2
  fi
  say "install: $(find "$WHEELS" -maxdepth 1 -type f -name '*.whl' | wc -l) wheels into $SITE"
  if timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$SITE" "$WHEELS"/*.whl >>"$OUT/env.log" 2>&1; then
    STATUS+=("| install | ok | $SECONDS |")
  else
    say "install: FAILED (see env.log); the notebooks will not run, the rest goes on"
    STATUS+=("| install | FAILED | $SECONDS |")
  fi
  export PYTHONPATH=$SITE:$PWD
}

record_env() { # env.log: the GPU, the interpreter and the versions of what the session uses
  say "env: versions into env.log"
  {
    echo "## nvidia-smi"
    timeout 20 nvidia-smi 2>&1 || echo "(no nvidia-smi)"
    echo
    echo "## versions"
    timeout 90 "$PY" - <<'EOF'
import importlib, platform, sys
print("python", sys.version.replace("\n", " "), sys.executable)
print("platform", platform.platform())
for name in ("numpy", "scipy", "pandas", "matplotlib", "cupy", "torch", "papermill",
             "nbclient", "ipykernel", "jupyter_client", "zmq", "mnist1d", "largebatch_sim"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"), getattr(module, "__file__", ""))
    except Exception as error:
        print(name, "NOT IMPORTABLE:", repr(error))
try:
    import cupy
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)
    print("cupy: CUDA runtime", runtime.runtimeGetVersion(), "driver", runtime.driverGetVersion(),
          "device", props["name"], "memory", props["totalGlobalMem"] // 2**20, "MiB")
except Exception as error:
    print("cupy device: none:", repr(error))
try:
    import torch
    print("torch: cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(),
          "available", torch.cuda.is_available(),
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except Exception as error:
    print("torch: none:", repr(error))
from largebatch_sim import backend
print("largebatch_sim backend (LBSIM_BACKEND unset):", backend.backend_name())
EOF
    echo
    echo "## pip check (the first 30 lines)"
    timeout 30 "$PY" -m pip check 2>&1 | head -n 30
  } >>"$OUT/env.log" 2>&1
}

# bench_gpu.md: the first table file whole, then the sections of the others (their heading
# and machine lines repeat the first's)
gather_bench() {
  local first=1 part
  : >"$OUT/bench_gpu.md"
  for part in "$WORK"/bench_steps.md "$WORK"/bench_ensemble.md "$WORK"/bench_noise.md; do
    [[ -f $part ]] || continue
    if ((first)); then
      cat "$part" >>"$OUT/bench_gpu.md"
      first=0
    else
      awk 'found || /^## /{found = 1; print}' "$part" >>"$OUT/bench_gpu.md"
    fi
    echo >>"$OUT/bench_gpu.md"
  done
}

bench() { # bench NAME WANT SECTION FILE: one section of run.py, kept as soon as it is written
  local name=$1 want=$2 only=$3 file=$4
  # shellcheck disable=SC2086  # DRY_FLAG is empty or one word
  section "$name" "$want" - env LBSIM_BACKEND=$BACKEND "$PY" benchmarks/run.py \
    --only "$only" --repeats "$REPEATS" $DRY_FLAG --out "$WORK/$file"
  gather_bench
  [[ -f $WORK/$file ]] && awk 'found || /^## /{found = 1; print}' "$WORK/$file"
}

figures_without_make() { # the Makefile's figures rule without make: papermill per notebook
  local nb name out_dir=figures pids=()
  [[ $FIGURES_PROFILE == smoke ]] && out_dir=build/smoke/figures
  [[ $FIGURES_PROFILE == full ]] && out_dir=figures/full
  mkdir -p "build/$FIGURES_PROFILE" "$out_dir"
  for nb in notebooks/*.ipynb; do
    name=$(basename "$nb" .ipynb)
    (OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" -m papermill \
      --log-level WARNING "$nb" "build/$FIGURES_PROFILE/$name.ipynb" -p profile \
      "$FIGURES_PROFILE" -p backend "$BACKEND" -p out_dir "$out_dir" &&
      touch "build/$FIGURES_PROFILE/$name.stamp") &
    pids+=($!)
  done
  local failed=0 pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  "$PY" -m largebatch_sim.report.scorecard "$out_dir" && return "$failed"
}

run_figures() {
  local secs start rc how summary=figures/SUMMARY.md
  [[ $FIGURES_PROFILE == smoke ]] && summary=build/smoke/figures/SUMMARY.md
  [[ $FIGURES_PROFILE == full ]] && summary=figures/full/SUMMARY.md
  secs=$(limit "$FIGURES_LIMIT")
  if ((secs < 10)); then
    say "figures: skipped, the time budget is spent"
    STATUS+=("| figures | skipped (budget spent) | 0 |")
    return
  fi
  rm -rf "build/$FIGURES_PROFILE" # stamps from an earlier call would make make skip notebooks
  mkdir -p "$WORK/cache"
  export LBSIM_CACHE=$WORK/cache # an empty result cache: every run is trained on the GPU
  say "figures: make -j$FIGURES_JOBS figures PROFILE=$FIGURES_PROFILE BACKEND=$BACKEND, limit ${secs}s"
  start=$(date +%s)
  if command -v make >/dev/null; then
    tree_timeout "$secs" make -j"$FIGURES_JOBS" figures \
      PROFILE="$FIGURES_PROFILE" BACKEND="$BACKEND" PYTHON="$PY" HTML=no >>"$OUT/figures_gpu.log" 2>&1
  else
    echo "no make here: papermill per notebook, as the Makefile would" >>"$OUT/figures_gpu.log"
    tree_timeout "$secs" figures_without_make >>"$OUT/figures_gpu.log" 2>&1
  fi
  rc=$?
  case $rc in
    0) how=ok ;;
    124) how="TIMED OUT (${secs}s)" ;;
    *) how="FAILED (exit $rc)" ;;
  esac
  say "figures: $how after $(($(date +%s) - start))s"
  STATUS+=("| figures | $how | $(($(date +%s) - start)) |")
  timeout 30 "$PY" benchmarks/notebook_times.py "build/$FIGURES_PROFILE" --start "$start" \
    --out "$OUT/figures_gpu.md" || say "figures: the notebook table failed"
  if [[ -f $summary ]]; then
    {
      echo
      echo "## The scorecard of this run ($summary)"
      echo
      cat "$summary"
    } >>"$OUT/figures_gpu.md"
  fi
  local files=("build/$FIGURES_PROFILE" "$(dirname "$summary")/summary.csv" "$summary")
  local present=()
  for f in "${files[@]}"; do [[ -e $f ]] && present+=("$f"); done
  if ((${#present[@]})); then
    tar -czf "$OUT/figures_gpu.tar.gz" "${present[@]}" 2>/dev/null
    if (($(stat -c %s "$OUT/figures_gpu.tar.gz") > 15 * 2 ** 20)); then # the limit is 16 MiB
      tar -czf "$OUT/figures_gpu.tar.gz" --exclude='*.ipynb' "${present[@]}" 2>/dev/null
    fi
  fi
}

main() {
  say "gpu session: dry=$DRY backend=$BACKEND python=$PY budget=${BUDGET}s out=$OUT"
  install_wheels
  record_env
  if wants pytest; then
    section pytest_gpu 80 "$OUT/pytest_gpu.log" env LBSIM_BACKEND=$BACKEND "$PY" -m pytest \
      -m gpu -q -p no:cacheprovider -o faulthandler_timeout=60 --continue-on-collection-errors
    tail -n 3 "$OUT/pytest_gpu.log"
  fi
  wants steps && bench steps_gpu 75 steps_gpu bench_steps.md
  wants ensemble && bench ensemble64 35 ensemble64 bench_ensemble.md
  wants noise && bench noise 25 noise bench_noise.md
  wants profile && section profile 30 - env LBSIM_BACKEND=$BACKEND "$PY" \
    benchmarks/gpu_profile.py --steps "$((DRY == 1 ? 3 : 20))" --out "$OUT/profile_gpu.md"
  if [[ $FIGURES == yes ]] && wants figures; then
    run_figures
    [[ -f $OUT/figures_gpu.md ]] && head -n 14 "$OUT/figures_gpu.md"
  fi
  echo
  echo "| section | how it ended | seconds |"
  echo "|---|---|---|"
  printf '%s\n' "${STATUS[@]}"
  echo
  ls -la "$OUT"
  say "gpu session: done in ${SECONDS}s"
}

main 2>&1 | tee -a "$OUT/session.log"
status=${PIPESTATUS[0]}
rm -rf "$WORK"
exit "$status"
