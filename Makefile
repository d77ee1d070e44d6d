# Two commands a user needs (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: venv demo test bench clean

# Bootstraps a local virtual environment with the pinned stack (CPU torch by constraint).
$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e '.[all]'
	$(PY) -m hrgldd_data.compat install
	touch $(STAMP)

venv: $(STAMP)

# Main job: generate the embedded sample events, build the sample release, train and score the baselines.
# Re-running skips the build: a release version is immutable.
demo: $(STAMP)
	test -d data/releases/hr_gldd_sample-1.0.0 || $(VENV)/bin/hrgldd sample --out data/raw --release-out data/releases
	$(PY) -m baselines.run --quick --release data/releases/hr_gldd_sample-1.0.0 --out data/results

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks.build_throughput
	$(PY) -m benchmarks.loaders

clean:
	rm -rf data .pytest_cache
