# syntax=docker/dockerfile:1
# CPU image for trainpipe components and training pods.
# Build from the repository root:  docker build -f docker/cpu.Dockerfile -t IMAGE .

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
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# torch first and from the CPU index: the default PyPI wheel pulls in the CUDA
# libraries (gigabytes) that a CPU image never uses. Its own layer, so code
# changes do not re-download it.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# The trainpipe wheel and its remaining dependencies from PyPI. torch==2.13.0 is
# already satisfied by 2.13.0+cpu, so it is not reinstalled. The wheel is
# bind-mounted from the build stage, so it leaves no copy in the image.
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
