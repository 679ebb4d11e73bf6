"""Preflight: fail in seconds, before a training job starts, on what would fail it later.

Checks the accelerator the config asks for against the torch build or image; that a cluster job
(``train.backend`` pytorchjob or trainjob) is given no local path, since its pods cannot see this
machine's files; and that every storage location the job touches is readable (inputs) and
writable (output). The storage probes run with this launcher's credentials, which every line
names (access key id shown partially, endpoint): a cluster job's pods use the Secret
``job.storage_secret`` instead, so there a pass does not prove the pods can read or write. Each
failure names the setting or location and what to change.
"""

from __future__ import annotations

import os

import torch
import torch.distributed

from trainpipe.console import print_line
from trainpipe.data.dataset import SCHEMA_KEY
from trainpipe.data.table_input import table_files
from trainpipe.errors import ConfigError, StorageError
from trainpipe.launch.base import LogSink
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import is_remote_uri
from trainpipe.train.spec import TrainSpec
from trainpipe.train.user_code import check_user_code, uses_user_code

PROBE_KEY = ".trainpipe-preflight"
CLUSTER_BACKENDS = ("pytorchjob", "trainjob")


def check_accelerator(spec: TrainSpec) -> str:
    """The requested accelerator exists and the job fits it: a CUDA image for a cluster job
    that asks for GPUs, one GPU for each process of a pod or of a local CUDA job, a CUDA build
    of torch that sees the GPUs, and NCCL for a job of several CUDA processes."""
    config = spec.config
    gpus, image, nproc = config.job.gpus, config.job.image, config.train.nproc_per_node
    if config.train.backend in CLUSTER_BACKENDS:
        if gpus > 0 and "cpu" in image.rsplit(":", 1)[-1]:
            raise ConfigError(
                f"job.gpus={gpus} but job.image {image} is the CPU image: use the cuda image "
                "(docker/cuda.Dockerfile) or set job.gpus=0"
            )
        if gpus > 0 and nproc != gpus:
            raise ConfigError(
                f"job.gpus={gpus} per pod but train.nproc_per_node={nproc}: each process of a "
                f"pod trains on one GPU (cuda:LOCAL_RANK), so {nproc} process(es) "
                f"{'need more GPUs' if nproc > gpus else 'leave GPUs idle'}; set "
                "train.nproc_per_node to job.gpus"
            )
        return f"image {image} for {gpus} GPU(s) per node"
    requested = os.environ.get("TRAINPIPE_DEVICE", "auto")
    wants_cuda = requested == "cuda"
    if wants_cuda and torch.version.cuda is None:
        raise ConfigError(
            f"TRAINPIPE_DEVICE=cuda but torch {torch.__version__} is a CPU-only build: install "
            "a CUDA build of torch, or unset TRAINPIPE_DEVICE to train on the CPU"
        )
    if wants_cuda and not torch.cuda.is_available():
        raise ConfigError(
            f"TRAINPIPE_DEVICE=cuda but torch {torch.__version__} (built for CUDA "
            f"{torch.version.cuda}) sees no GPU: the NVIDIA driver is missing or older than "
            f"CUDA {torch.version.cuda} needs (nvidia-smi shows the driver's CUDA version), or "
            "CUDA_VISIBLE_DEVICES is empty; fix the node or unset TRAINPIPE_DEVICE"
        )
    if requested == "cpu" or not torch.cuda.is_available():
        return f"torch {torch.__version__} on cpu"
    visible = torch.cuda.device_count()
    if nproc > visible:
        raise ConfigError(
            f"train.nproc_per_node={nproc} but {visible} GPU(s) are visible: each process "
            f"trains on one GPU (cuda:LOCAL_RANK); set train.nproc_per_node <= {visible}, or "
            "TRAINPIPE_DEVICE=cpu to train on the CPU"
        )
    if config.train.world_size > 1 and not torch.distributed.is_nccl_available():
        raise ConfigError(
            f"a job of {config.train.world_size} CUDA processes reduces its gradients over "
            f"NCCL, which torch {torch.__version__} was built without: install a CUDA build "
            "of torch with NCCL, or train with train.nproc_per_node=1 and train.nnodes=1"
        )
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) on {nproc} of {visible} GPU(s)"


def job_locations(spec: TrainSpec) -> list[tuple[str, str]]:
    """Every storage location the training job reads or writes, as (what it is, location)."""
    locations = [
        ("train data (train_data)", spec.train_data),
        ("validation data (validation_data)", spec.validation_data),
        ("model output (output)", spec.output),
    ]
    if spec.checkpoints:
        locations.append(("checkpoints (checkpoints)", spec.checkpoints))
    if spec.config.train.warm_start:
        locations.append(
            (
                f"registry of train.warm_start={spec.config.train.warm_start!r} (registry.uri)",
                spec.config.registry.uri,
            )
        )
    return locations


def check_cluster_locations(spec: TrainSpec) -> None:
    """A cluster job names no local path: its pods cannot see this machine's files.

    Raises:
        ConfigError: naming every local location at once and what to use instead.
    """
    backend = spec.config.train.backend
    if backend not in CLUSTER_BACKENDS:
        return
    local = [(what, where) for what, where in job_locations(spec) if not is_remote_uri(where)]
    if local:
        listed = "; ".join(f"the {what} is the local path {where!r}" for what, where in local)
        raise ConfigError(
            f"train.backend={backend} runs the training job in pods that cannot see this "
            f"machine's files, but {listed}: use s3:// or minio:// URIs on the cluster's object "
            "store (MinIO in manifests/minio), or train.backend=local"
        )


def probe_credentials(spec: TrainSpec) -> str:
    """Whose credentials the storage probes use, safe to log (no secret, key id partly).

    Empty when every location is local (no credentials involved).
    """
    if not any(is_remote_uri(where) for _, where in job_locations(spec)):
        return ""
    from trainpipe.storage.s3 import s3_settings_from_env

    try:
        settings = s3_settings_from_env()
        whose = (
            f"this launcher's credentials {settings.identity()} at {settings.endpoint} "
            f"({settings.source})"
        )
    except StorageError as exc:
        whose = f"this launcher's environment, which has no usable S3 settings ({exc})"
    config = spec.config
    if config.train.backend in CLUSTER_BACKENDS:
        whose += (
            f"; the pods use Secret {config.job.storage_secret!r} in namespace "
            f"{config.job.namespace!r} instead, so a pass here does not prove the pods can read "
            "or write"
        )
    return whose


def check_storage(spec: TrainSpec) -> str:
    """Inputs are readable and the output (and checkpoint) locations writable, before anything
    is computed; the returned line and every failure say whose credentials were probed.
    """
    check_cluster_locations(spec)
    whose = probe_credentials(spec)
    probed = f"; probed with {whose}" if whose else ""
    for name, location in (
        ("train data", spec.train_data),
        ("validation data", spec.validation_data),
    ):
        try:
            readable = open_store(location).exists(SCHEMA_KEY) or bool(table_files(location))
        except StorageError as exc:
            raise StorageError(
                f"preflight: cannot read the {name} at {location}: {exc}{probed}"
            ) from exc
        if not readable:
            raise StorageError(
                f"preflight: the {name} at {location} has no {SCHEMA_KEY} and no table file: "
                f"pass a dataset written by trainpipe ingest/split, or a CSV or Parquet "
                f"table{probed}"
            )
    for name, location in (
        ("model location", spec.output),
        ("checkpoint location", spec.checkpoints),
    ):
        if location:
            _probe_write(name, location, probed)
    return "storage readable and writable" + probed


def _probe_write(name: str, location: str, probed: str) -> None:
    try:
        store = open_store(location)
        store.write_text(PROBE_KEY, "ok")
        store.delete(PROBE_KEY)
    except StorageError as exc:
        raise StorageError(
            f"preflight: cannot write the {name} {location}: {exc}. Check the credentials "
            f"(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and the bucket policy{probed}"
        ) from exc


def preflight(spec: TrainSpec, *, log: LogSink = print_line) -> list[str]:
    """Run every check; return what was checked. Raises the first failure."""
    checks = [check_accelerator(spec), check_storage(spec)]
    if uses_user_code(spec):
        checks.append(check_user_code(spec))
    log(f"[trainpipe] preflight ok: {'; '.join(checks)}")
    return checks
