# largebatch-sim: `make figures` regenerates every figure, `make test` runs the test suite.
# Both create .venv on first use. `PYTHON=/path/to/python make ...` or `make VENV=no ...`
# uses an interpreter that already has the packages (a GPU machine with CuPy, no network).

PROFILE ?= quick
BACKEND ?= auto
# A cell that runs longer than this (seconds) fails instead of hanging make (raise it for
# long `full` runs on a CPU).
CELL_TIMEOUT ?= 3600
# HTML=no skips rendering the executed notebooks as HTML (nbconvert), e.g. on a GPU machine
# that lacks nbconvert; the stamps and figures are made all the same.
HTML ?= yes
SHELL := /bin/bash

ifdef PYTHON
  ENV_READY :=
else ifeq ($(VENV),no)
  PYTHON := python3
  ENV_READY :=
else
  PYTHON := .venv/bin/python
  ENV_READY := .venv/.installed
endif

# Each profile writes to its own folder, so a test or a GPU run never overwrites the quick figures.
OUT_DIR_quick := figures
OUT_DIR_full := figures/full
OUT_DIR_smoke := build/smoke/figures
OUT_DIR := $(OUT_DIR_$(PROFILE))
ifeq ($(OUT_DIR),)
  $(error PROFILE must be one of quick, full, smoke; got '$(PROFILE)')
endif

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
STAMPS := $(patsubst notebooks/%.ipynb,build/$(PROFILE)/%.stamp,$(NOTEBOOKS))
LIBRARY := $(shell find largebatch_sim -name '*.py') pyproject.toml

.PHONY: figures test chromium lint lab explore bench env clean lock
.DELETE_ON_ERROR:
.NOTPARALLEL:

figures: $(OUT_DIR)/SUMMARY.md

env: $(ENV_READY)

# The environment is installed from constraints.txt, the exact versions the figures were made
# with, so a regeneration gives the same bytes; pyproject.toml keeps the loose ranges for
# library users. `make lock` refreshes the pins (newest versions in those ranges).
.venv/.installed: pyproject.toml constraints.txt
	python3 -m venv .venv
	.venv/bin/python -m pip install --quiet --upgrade pip
	.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

lock:
	rm -rf build/lock-env
	python3 -m venv build/lock-env
	build/lock-env/bin/python -m pip install --quiet --upgrade pip
	build/lock-env/bin/python -m pip install --quiet ".[dev]"
	build/lock-env/bin/python -m pip freeze --exclude-editable \
	  | grep -v '^largebatch-sim' > constraints.txt
	rm -rf build/lock-env

# One executed copy and one stamp per notebook and profile. The notebooks run one after another
# (.NOTPARALLEL: `-j` would only oversubscribe the cores), and each spreads its sweeps' ensembles
# over the cores itself: its `executor` parameter defaults to one worker process per core
# (`EXECUTOR=2`, `EXECUTOR=in-process` or `EXECUTOR=tcp://host:8786` to choose). The kernel and
# every worker run on one BLAS thread: the last bits of a float sum depend on the thread count,
# so pinning it makes the figures the same whichever executor trained them; the timing studies
# (G-F7, G-F8, the benchmarks) run in the kernel itself, alone.
# A kernel can lose the race for a port at start, and die with "Kernel died before replying to
# kernel_info": that failure alone is retried, once (it comes before the first cell runs, so the
# retry repeats no work; papermill's output still shows). The executed notebook is rendered as
# HTML beside the figures, so every result can be read without running anything.
build/$(PROFILE)/%.stamp: notebooks/%.ipynb $(LIBRARY) | $(ENV_READY)
	@mkdir -p $(@D) $(OUT_DIR)/notebooks
	@log=build/$(PROFILE)/$*.log; \
	for attempt in 1 2; do \
	  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(PYTHON) -m papermill --log-level WARNING --execution-timeout $(CELL_TIMEOUT) \
	    $< build/$(PROFILE)/$*.ipynb \
	    -p profile $(PROFILE) -p backend $(BACKEND) -p out_dir $(OUT_DIR) \
	    $(if $(EXECUTOR),-p executor $(EXECUTOR)) 2>&1 | tee $$log; \
	  status=$${PIPESTATUS[0]}; \
	  if [ $$status -eq 0 ]; then break; fi; \
	  if [ $$attempt -eq 1 ] && grep -q "Kernel died before replying to kernel_info" $$log; then \
	    echo "$*: the kernel was lost to a port race; running the notebook once more"; \
	  else exit $$status; fi; \
	done
ifneq ($(HTML),no)
	$(PYTHON) -m nbconvert --log-level WARN --to html --output-dir $(OUT_DIR)/notebooks \
	  build/$(PROFILE)/$*.ipynb
endif
	touch $@

$(OUT_DIR)/SUMMARY.md: $(STAMPS) | $(ENV_READY)
	$(PYTHON) -m largebatch_sim.report.scorecard $(OUT_DIR)

test: | $(ENV_READY) chromium
	$(PYTHON) -m pytest -q

# The browser tests (marked `browser`) drive Debian's chromium and its driver: installed here
# where missing (as root, or with sudo), so CI runs them rather than skipping them. Where there
# is no apt-get the tests skip, and this says so.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null; then \
	    $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else echo "no apt-get: the browser tests will skip (they need chromium and chromedriver)"; fi; \
	fi

lint: | $(ENV_READY)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

# Jupyter refuses to run as root without --allow-root (containers, GPU machines).
lab: | $(ENV_READY)
	$(PYTHON) -m jupyterlab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# The explorer (live runs, the noisy quadratic model, the result cache) at the printed address.
explore: | $(ENV_READY)
	$(PYTHON) -m largebatch_sim.cli explore

bench: | $(ENV_READY)
	$(PYTHON) benchmarks/run.py --out build/bench-$(BACKEND).md

clean:
	rm -rf build
