# cryopick: `make demo` runs the whole pipeline on simulated data, `make test` runs the tests.
# Each creates its own virtual environment in .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
DEMO_DIR ?= demo

.PHONY: venv demo test report clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,workflow]"
	touch $(BIN)/activate

venv: $(BIN)/activate

demo: venv
	$(BIN)/snakemake -s $(CURDIR)/Snakefile --directory $(DEMO_DIR) --cores $(CORES) \
		--configfile $(CURDIR)/config/config.yaml
	$(BIN)/snakemake -s $(CURDIR)/Snakefile --directory $(DEMO_DIR) --cores $(CORES) \
		--configfile $(CURDIR)/config/config.yaml --report $(abspath $(DEMO_DIR))/report.html

# The suite runs on TEST_WORKERS processes, each taking whole test files in the order of
# tests/conftest.py (kept: xdist would reorder files by their number of tests): the SLURM
# and install tests spend most of their time waiting, so they start first, beside the others.
# Four workers on two cores: a quarter of the workers' time is spent waiting on SLURM and pip
# (7.0–7.5 minutes of tests with 4, 9 with 3, on 2 cores).
TEST_WORKERS ?= 4
test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
