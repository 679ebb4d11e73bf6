"""Preflight: fail in seconds, before a training job starts, on what would fail it later.

Checks the accelerator the config asks for against the torch build or image, and that every
storage location the job touches is readable (inputs) and writable (output) with the credentials
at hand. Each failure names the setting or location and what to change.
"""

from __future__ import annotations

import os

import torch

from trainpipe.console import print_line
from trainpipe.data.dataset import SCHEMA_KEY
from trainpipe.errors import ConfigError, StorageError
from trainpipe.launch.base import LogSink
from trainpipe.storage import open_store
from trainpipe.train.spec import TrainSpec

PROBE_KEY = ".trainpipe-preflight"


def check_accelerator(spec: TrainSpec) -> str:
    """The requested accelerator exists: a CUDA torch build locally, a CUDA image on a cluster."""
    config = spec.config
    gpus, image = config.job.gpus, config.job.image
    if config.train.backend in ("pytorchjob", "trainjob"):
        if gpus > 0 and "cpu" in image.rsplit(":", 1)[-1]:
            raise ConfigError(
                f"job.gpus={gpus} but job.image {image} is the CPU image: use the cuda image "
                "(docker/cuda.Dockerfile) or set job.gpus=0"
            )
        return f"image {image} for {gpus} GPU(s) per node"
    wants_cuda = os.environ.get("TRAINPIPE_DEVICE") == "cuda"
    if wants_cuda and torch.version.cuda is None:
        raise ConfigError(
            f"TRAINPIPE_DEVICE=cuda but torch {torch.__version__} is a CPU-only build: install "
            "a CUDA build of torch, or unset TRAINPIPE_DEVICE to train on the CPU"
        )
    if wants_cuda and not torch.cuda.is_available():
        raise ConfigError(
            "TRAINPIPE_DEVICE=cuda but no GPU is visible (driver missing or "
            "CUDA_VISIBLE_DEVICES empty): fix the node or unset TRAINPIPE_DEVICE"
        )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return f"torch {torch.__version__} on {device}"


def check_storage(spec: TrainSpec) -> str:
    """Inputs are readable and the output location is writable, before anything is computed."""
    for name, location in (
        ("train data", spec.train_data),
        ("validation data", spec.validation_data),
    ):
        try:
            readable = open_store(location).exists(SCHEMA_KEY)
        except StorageError as exc:
            raise StorageError(f"preflight: cannot read the {name} at {location}: {exc}") from exc
        if not readable:
            raise StorageError(
                f"preflight: the {name} at {location} has no {SCHEMA_KEY}: pass a dataset "
                "written by trainpipe ingest/split"
            )
    store = open_store(spec.output)
    try:
        store.write_text(PROBE_KEY, "ok")
        store.delete(PROBE_KEY)
    except StorageError as exc:
        raise StorageError(
            f"preflight: cannot write the model location {spec.output}: {exc}. Check the "
            "credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the bucket policy"
        ) from exc
    return "storage readable and writable"


def preflight(spec: TrainSpec, *, log: LogSink = print_line) -> list[str]:
    """Run every check; return what was checked. Raises the first failure."""
    checks = [check_accelerator(spec), check_storage(spec)]
    log(f"[trainpipe] preflight ok: {'; '.join(checks)}")
    return checks
