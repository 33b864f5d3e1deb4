# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_CONFIG := configs/quickstart.yaml

.PHONY: setup demo test test-fast lint format bench clean-venv

# torch is installed first and pinned: 2.13.0 is a CPU build on CPU-only machines, while an
# unpinned torch (asked for by the package's own range) would pull gigabytes of CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The experiment folder is never overwritten: a second demo gets a timestamped name.
demo: setup
	@name=quickstart; \
	if [ -e runs/$$name ]; then name=quickstart-$$(date +%Y%m%d-%H%M%S); \
	  echo "runs/quickstart exists; this demo runs as runs/$$name"; fi; \
	$(BIN)/raytune-hp tune $(DEMO_CONFIG) --name $$name

test: setup
	$(BIN)/pytest -q --durations=20

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The benchmarks in quick mode (895 s on an idle 2-core machine, about three times that when it
# is shared: each script's time is in benchmarks/README.md); without --quick each is the full
# mode. Each writes its table (and plots) to benchmarks/results/.
bench: setup
	$(BIN)/pip install -q --disable-pip-version-check -e ".[bench]"
	$(BIN)/python benchmarks/overhead.py --quick
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/search_quality.py --quick
	$(BIN)/python benchmarks/search_priors.py --quick
	$(BIN)/python benchmarks/scale.py --quick
	$(BIN)/python benchmarks/driver_cost.py --quick

clean-venv:
	rm -rf $(VENV)
