"""Preflight fails in seconds, naming what to change, before any job starts."""

from pathlib import Path
from typing import Any

import pytest

import trainpipe.launch.preflight as preflight_module
from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, StorageError
from trainpipe.launch.preflight import PROBE_KEY, check_accelerator, check_storage, preflight
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.local import LocalStore
from trainpipe.storage.uri import parse_uri
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI-K7MDENG-very-secret"


def spec_for(
    splits: dict[str, str],
    output: str,
    *,
    train: dict[str, Any] | None = None,
    checkpoints: str = "",
    **job: object,
) -> TrainSpec:
    backend = job.pop("backend", "local")
    config = RunConfig.from_dict(
        {
            "data": {"source": "builtin:iris"},
            "train": {"backend": backend, **(train or {})},
            "registry": {"uri": str(job.pop("registry", "runs/registry"))},
            "job": job,
        }
    )
    return TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=output,
        checkpoints=checkpoints,
    )


@pytest.fixture
def launcher_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher's S3 settings: an endpoint and a key pair (no server behind them)."""
    for name in ("AWS_ENDPOINT_URL", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("TRAINPIPE_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")


def s3_as_directories(
    monkeypatch: pytest.MonkeyPatch, root: Path, splits: dict[str, str]
) -> dict[str, str]:
    """Serve ``s3://data/<split>`` from the local splits and any other bucket from ``root``.

    Returns the splits' s3:// URIs; the probes then run offline, through the same open_store
    call the preflight makes.
    """

    def open_store(uri: str) -> ObjectStore:
        parsed = parse_uri(uri)
        if parsed.scheme == "file":
            return LocalStore(parsed.path)
        if parsed.bucket == "data":
            return LocalStore(splits[parsed.prefix])
        return LocalStore(root / parsed.bucket / parsed.prefix)

    monkeypatch.setattr(preflight_module, "open_store", open_store)
    return {"train": "s3://data/train", "validation": "s3://data/validation"}


def test_preflight_passes_and_leaves_no_probe(iris_splits: dict[str, str], tmp_path: Path) -> None:
    lines: list[str] = []
    checks = preflight(spec_for(iris_splits, str(tmp_path / "out")), log=lines.append)
    assert len(checks) == 2 and lines[0].startswith("[trainpipe] preflight ok")
    assert not (tmp_path / "out" / PROBE_KEY).exists()


def test_missing_input_dataset_is_named(iris_splits: dict[str, str], tmp_path: Path) -> None:
    splits = {**iris_splits, "validation": str(tmp_path / "nowhere")}
    with pytest.raises(StorageError, match=r"validation data at .*nowhere has no schema\.json"):
        check_storage(spec_for(splits, str(tmp_path / "out")))


def test_a_plain_table_file_passes_as_input_data(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    import pandas as pd

    (tmp_path / "tables").mkdir()
    pd.DataFrame({"x": [1.0, 2.0], "target": ["a", "b"]}).to_csv(tmp_path / "train", index=False)
    splits = {"train": str(tmp_path / "train"), "validation": str(tmp_path / "tables")}
    with pytest.raises(
        StorageError, match=r"validation data at .*tables has no schema\.json and no "
    ):
        check_storage(spec_for(splits, str(tmp_path / "out")))
    pd.DataFrame({"x": [3.0], "target": ["a"]}).to_parquet(tmp_path / "tables" / "part-0.parquet")
    assert check_storage(spec_for(splits, str(tmp_path / "out"))).startswith("storage readable")


def test_unwritable_output_is_named(iris_splits: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot write the model location"):
        check_storage(spec_for(iris_splits, str(blocker / "out")))


def test_unreachable_s3_output_names_the_endpoint(
    iris_splits: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINPIPE_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")
    with pytest.raises(StorageError) as info:
        check_storage(spec_for(iris_splits, "s3://models/run"))
    assert "127.0.0.1:9" in str(info.value) and "very-secret" not in str(info.value)


def test_gpu_job_on_the_cpu_image_is_rejected(iris_splits: dict[str, str]) -> None:
    spec = spec_for(
        iris_splits, "s3://b/o", backend="pytorchjob", gpus=1, image="repo/trainpipe:0.1.0-cpu"
    )
    with pytest.raises(ConfigError, match=r"job\.gpus=1 but job\.image .* is the CPU image"):
        check_accelerator(spec)
    ok = spec_for(
        iris_splits,
        "s3://b/o",
        backend="pytorchjob",
        gpus=1,
        image="repo/trainpipe:0.1.0-cuda",
        train={"nproc_per_node": 1},
    )
    assert "1 GPU" in check_accelerator(ok)


@pytest.mark.parametrize(("gpus", "nproc", "why"), [(1, 2, "need more GPUs"), (2, 1, "idle")])
def test_a_pods_processes_match_its_gpus(
    iris_splits: dict[str, str], gpus: int, nproc: int, why: str
) -> None:
    spec = spec_for(
        iris_splits,
        "s3://b/o",
        backend="trainjob",
        gpus=gpus,
        image="repo/trainpipe:0.1.0-cuda",
        train={"nproc_per_node": nproc},
    )
    with pytest.raises(ConfigError, match=rf"job\.gpus={gpus} per pod but train\.nproc_per_node="
                       rf"{nproc}: .*{why}"):  # fmt: skip
        check_accelerator(spec)


@pytest.fixture
def gpus_here(monkeypatch: pytest.MonkeyPatch) -> Any:
    """This machine as one with ``n`` GPUs and a CUDA build of torch."""
    import torch

    def have(n: int, *, nccl: bool = True) -> None:
        monkeypatch.delenv("TRAINPIPE_DEVICE", raising=False)
        monkeypatch.setattr(torch.version, "cuda", "12.8")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.distributed, "is_nccl_available", lambda: nccl)

    return have


def test_a_local_cuda_job_has_a_gpu_per_process_and_nccl(
    iris_splits: dict[str, str], gpus_here: Any
) -> None:
    two = spec_for(iris_splits, "/tmp/x", train={"nproc_per_node": 2})
    gpus_here(1)
    with pytest.raises(ConfigError, match=r"nproc_per_node=2 but 1 GPU\(s\) are visible"):
        check_accelerator(two)
    gpus_here(2, nccl=False)
    with pytest.raises(ConfigError, match=r"NCCL, which torch .* was built without"):
        check_accelerator(two)
    gpus_here(2)
    assert check_accelerator(two).endswith("(CUDA 12.8) on 2 of 2 GPU(s)")


def test_a_cuda_build_that_sees_no_gpu_names_the_driver(
    iris_splits: dict[str, str], gpus_here: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gpus_here(0)
    monkeypatch.setenv("TRAINPIPE_DEVICE", "cuda")
    with pytest.raises(ConfigError, match=r"older than CUDA 12\.8 needs .*nvidia-smi"):
        check_accelerator(spec_for(iris_splits, "/tmp/x"))


def test_cuda_requested_on_a_cpu_build(
    iris_splits: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setenv("TRAINPIPE_DEVICE", "cuda")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ConfigError, match="CPU-only build"):
        check_accelerator(spec_for(iris_splits, "/tmp/x"))


@pytest.mark.parametrize("backend", ["pytorchjob", "trainjob"])
def test_a_cluster_job_gets_no_local_path_and_every_one_is_named(
    iris_splits: dict[str, str], tmp_path: Path, backend: str
) -> None:
    """Pods cannot see this machine's files: plain paths and file:// URIs are refused at once."""
    splits = {**iris_splits, "validation": "file://" + iris_splits["validation"]}
    spec = spec_for(
        splits,
        str(tmp_path / "out"),
        backend=backend,
        checkpoints=str(tmp_path / "ckpt"),
        train={"warm_start": "iris@champion"},
        registry=str(tmp_path / "registry"),
    )
    with pytest.raises(ConfigError) as info:
        preflight(spec, log=lambda _: None)
    message = str(info.value)
    assert f"train.backend={backend}" in message and "cannot see this machine's files" in message
    for what, where in (
        ("train data (train_data)", iris_splits["train"]),
        ("validation data (validation_data)", "file://" + iris_splits["validation"]),
        ("model output (output)", str(tmp_path / "out")),
        ("checkpoints (checkpoints)", str(tmp_path / "ckpt")),
        ("train.warm_start='iris@champion' (registry.uri)", str(tmp_path / "registry")),
    ):
        assert f"{what} is the local path {where!r}" in message
    assert "s3:// or minio://" in message and "manifests/minio" in message
    assert not (tmp_path / "out").exists()  # refused before any probe wrote


def test_a_cluster_job_on_object_storage_passes_and_says_whose_credentials_were_probed(
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launcher_env: None,
) -> None:
    splits = s3_as_directories(monkeypatch, tmp_path, iris_splits)
    spec = spec_for(
        splits,
        "minio://models/run",
        backend="pytorchjob",
        storage_secret="team-s3",
        namespace="ml",
        train={"warm_start": "iris@champion"},
        registry="s3://registry/models",
    )
    lines: list[str] = []
    preflight(spec, log=lines.append)
    (line,) = lines
    assert line.startswith("[trainpipe] preflight ok:") and "storage readable and writable" in line
    assert "this launcher's credentials AWS_ACCESS_KEY_ID=AKIA... at http://127.0.0.1:9" in line
    assert KEY_ID not in line and SECRET not in line
    assert "the pods use Secret 'team-s3' in namespace 'ml' instead" in line
    assert "does not prove the pods can read or write" in line
    assert not (tmp_path / "models" / "run" / PROBE_KEY).exists()


def test_every_storage_failure_says_whose_credentials_were_probed(
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launcher_env: None,
) -> None:
    sources = {**iris_splits, "missing": str(tmp_path / "no-dataset-here")}
    splits = s3_as_directories(monkeypatch, tmp_path, sources)
    blocker = tmp_path / "models"
    blocker.write_text("a file where the bucket's directory should be")
    failures = [
        spec_for({**splits, "train": "s3://data/missing"}, "s3://out/run", backend="trainjob"),
        spec_for(splits, "s3://models/run", backend="trainjob"),
        spec_for(splits, "s3://out/run", backend="trainjob", checkpoints="s3://models/ckpt"),
    ]
    for spec in failures:
        with pytest.raises(StorageError) as info:
            check_storage(spec)
        message = str(info.value)
        assert "probed with this launcher's credentials AWS_ACCESS_KEY_ID=AKIA..." in message
        assert "at http://127.0.0.1:9 (TRAINPIPE_S3_ENDPOINT)" in message
        assert "the pods use Secret 'trainpipe-s3-credentials'" in message
        assert KEY_ID not in message and SECRET not in message


def test_a_laptop_run_on_object_storage_names_the_credentials_but_no_secret(
    iris_splits: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launcher_env: None,
) -> None:
    """The local backend's processes use this environment's credentials: no Secret involved."""
    splits = s3_as_directories(monkeypatch, tmp_path, iris_splits)
    line = check_storage(spec_for(splits, "s3://models/run"))
    assert "probed with this launcher's credentials AWS_ACCESS_KEY_ID=AKIA..." in line
    assert "Secret" not in line


def test_without_s3_settings_the_failure_says_the_environment_has_none(
    iris_splits: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TRAINPIPE_S3_ENDPOINT", "AWS_ENDPOINT_URL", "MINIO_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(StorageError) as info:
        check_storage(spec_for(iris_splits, "s3://models/run"))
    message = str(info.value)
    assert "cannot write the model location s3://models/run" in message
    assert "probed with this launcher's environment, which has no usable S3 settings" in message
