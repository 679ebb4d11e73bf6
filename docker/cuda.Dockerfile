# syntax=docker/dockerfile:1
# CUDA image for GPU training pods.
# Build from the repository root:  docker build -f docker/cuda.Dockerfile -t IMAGE .
#
# The torch==2.13.0 wheel on PyPI is built for CUDA 13.0 and brings its own CUDA
# runtime, cuBLAS, NCCL and cuDNN as pip packages. The base image therefore only
# has to provide the NVIDIA container-runtime hooks, and its CUDA version must
# match the wheel's: NVIDIA_REQUIRE_CUDA=cuda>=13.0 makes the container runtime
# refuse nodes whose driver is too old (< 580), instead of torch silently
# falling back to CPU.

# ---- stage 1: build the trainpipe wheel ------------------------------------
FROM python:3.11.14-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

# ---- stage 2: runtime ------------------------------------------------------
FROM nvidia/cuda:13.0.1-base-ubuntu22.04

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Python 3.11 from Ubuntu 22.04 (universe). Versions are not pinned: the Ubuntu
# archive drops superseded package versions when security updates land, so an
# exact pin breaks the build instead of making it reproducible; the pinned base
# tag and the pinned Python packages below are what fix the environment.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3.11 \
        python3.11-venv \
    && rm -rf /var/lib/apt/lists/*

# A virtualenv keeps pip away from the system Python that apt owns.
RUN python3.11 -m venv /opt/venv \
    && pip install --no-cache-dir pip==25.3

# The CUDA build of torch (PyPI's default wheel for Linux x86_64), in its own
# layer so code changes do not re-download it.
RUN pip install --no-cache-dir torch==2.13.0

# The trainpipe wheel and its remaining dependencies. The wheel is bind-mounted
# from the build stage, so it leaves no copy in the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/tmp/wheels \
    pip install --no-cache-dir /tmp/wheels/trainpipe-*.whl

RUN groupadd --gid 1000 trainpipe \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash trainpipe

# The commit the image was built from (`make images` passes git:SHA); the registry records it
# as the code version of every model trained in this image. Declared late so that a new commit
# does not invalidate the dependency layers above.
ARG TRAINPIPE_CODE_VERSION=""
ENV TRAINPIPE_CODE_VERSION=${TRAINPIPE_CODE_VERSION}

WORKDIR /home/trainpipe
# Numeric, so the kubelet can enforce runAsNonRoot without resolving names.
USER 1000:1000

# KFP sets the command of each step; this default only documents the entrypoint.
CMD ["python", "-m", "trainpipe.train", "--help"]
