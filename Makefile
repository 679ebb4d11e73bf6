# trainpipe: `make run` runs the whole pipeline on the bundled digits data; `make test` runs the tests.
# Both create the virtual environment in .venv first when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= pipelines/configs/digits.yaml
STAMP := $(VENV)/.installed
# make compile|submit IMAGE=...: the image of every step and of the training pods.
IMAGE ?=
# make submit: the Kubeflow Pipelines endpoint (KFP_TOKEN in the environment when it needs auth).
KFP_HOST ?=
EXPERIMENT ?= trainpipe
# make images [PUSH=1]: REGISTRY/trainpipe:VERSION-cpu and -cuda, built with docker or podman.
REGISTRY ?= ghcr.io/trainpipe
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
PUSH ?= 0
# make test: pytest worker processes (a test file runs whole on one of them; files go out in
# collection order, the integration tests first, so no long one is left for the end).
TEST_WORKERS ?= 2
# Python caches each module's bytecode the first time it is imported (the install skips pip's
# compile of every file for it): a process that starts later reads it instead of compiling
# torch's modules again, even where the environment says not to write bytecode.
unexport PYTHONDONTWRITEBYTECODE
CONTAINER_TOOL ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)

.PHONY: install run test test-unit test-integration lint typecheck compile submit images manifests bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/trainpipe run --config $(CONFIG)

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

lint: $(STAMP)
	$(BIN)/ruff check src components pipelines tests benchmarks examples
	$(BIN)/ruff format --check src components pipelines tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy src components pipelines benchmarks

compile: $(STAMP)
	$(BIN)/trainpipe compile $(if $(IMAGE),--image $(IMAGE))

submit: $(STAMP)
	@test -n "$(KFP_HOST)" || { echo "make submit: set KFP_HOST to the Kubeflow Pipelines URL (and KFP_TOKEN when it needs auth), e.g. make submit KFP_HOST=http://localhost:8080" >&2; exit 2; }
	$(BIN)/trainpipe submit --host $(KFP_HOST) --experiment $(EXPERIMENT) --config $(CONFIG) $(if $(IMAGE),--image $(IMAGE))

images:
	@test -n "$(CONTAINER_TOOL)" || { echo "make images: neither docker nor podman is on PATH; install one (or set CONTAINER_TOOL)" >&2; exit 2; }
	$(CONTAINER_TOOL) build -f docker/cpu.Dockerfile --build-arg TRAINPIPE_CODE_VERSION=git:$$(git rev-parse HEAD) -t $(REGISTRY)/trainpipe:$(VERSION)-cpu .
	$(CONTAINER_TOOL) build -f docker/cuda.Dockerfile --build-arg TRAINPIPE_CODE_VERSION=git:$$(git rev-parse HEAD) -t $(REGISTRY)/trainpipe:$(VERSION)-cuda .
	if [ "$(PUSH)" = 1 ]; then $(CONTAINER_TOOL) push $(REGISTRY)/trainpipe:$(VERSION)-cpu && $(CONTAINER_TOOL) push $(REGISTRY)/trainpipe:$(VERSION)-cuda; fi

manifests: $(STAMP)
	@for dir in base minio monitoring examples gitops trainer overlays/dev overlays/prod overlays/prod/examples; do \
	  err=$$($(BIN)/kubectl kustomize manifests/$$dir 2>&1 >/dev/null) || { echo "$$err"; exit 1; }; \
	  test -z "$$err" || { echo "kubectl kustomize manifests/$$dir warned:"; echo "$$err"; exit 1; }; \
	done
	@$(BIN)/python -m pytest -q -W error tests/unit/test_manifests.py tests/unit/test_dockerfiles.py

bench: $(STAMP)
	$(BIN)/python benchmarks/tune_pruning.py
	$(BIN)/python benchmarks/near_duplicates.py

clean:
	rm -rf runs local_outputs .pytest_cache .mypy_cache .ruff_cache
