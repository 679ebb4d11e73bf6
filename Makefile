# trainpipe: `make run` runs the whole pipeline on the bundled digits data; `make test` runs the tests.
# Both create the virtual environment in .venv first when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= pipelines/configs/digits.yaml
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-integration lint typecheck compile manifests bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trainpipe run --config $(CONFIG)

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

lint: $(STAMP)
	$(BIN)/ruff check src components pipelines tests benchmarks
	$(BIN)/ruff format --check src components pipelines tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src components pipelines benchmarks

compile: $(STAMP)
	$(BIN)/trainpipe compile

manifests: $(STAMP)
	$(BIN)/kubectl kustomize manifests/base > /dev/null
	$(BIN)/python -m pytest -q tests/unit/test_manifests.py tests/unit/test_dockerfiles.py

bench: $(STAMP)
	$(BIN)/python benchmarks/tune_pruning.py

clean:
	rm -rf runs local_outputs .pytest_cache .mypy_cache .ruff_cache
