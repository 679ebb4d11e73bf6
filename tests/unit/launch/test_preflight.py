"""Preflight fails in seconds, naming what to change, before any job starts."""

from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, StorageError
from trainpipe.launch.preflight import PROBE_KEY, check_accelerator, check_storage, preflight
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def spec_for(splits: dict[str, str], output: str, **job: object) -> TrainSpec:
    backend = job.pop("backend", "local")
    config = RunConfig.from_dict(
        {"data": {"source": "builtin:iris"}, "train": {"backend": backend}, "job": job}
    )
    return TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=output,
    )


def test_preflight_passes_and_leaves_no_probe(iris_splits: dict[str, str], tmp_path: Path) -> None:
    lines: list[str] = []
    checks = preflight(spec_for(iris_splits, str(tmp_path / "out")), log=lines.append)
    assert len(checks) == 2 and lines[0].startswith("[trainpipe] preflight ok")
    assert not (tmp_path / "out" / PROBE_KEY).exists()


def test_missing_input_dataset_is_named(iris_splits: dict[str, str], tmp_path: Path) -> None:
    splits = {**iris_splits, "validation": str(tmp_path / "nowhere")}
    with pytest.raises(StorageError, match=r"validation data at .*nowhere has no schema\.json"):
        check_storage(spec_for(splits, str(tmp_path / "out")))


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
        iris_splits, "s3://b/o", backend="pytorchjob", gpus=1, image="repo/trainpipe:0.1.0-cuda"
    )
    assert "1 GPU" in check_accelerator(ok)


def test_cuda_requested_on_a_cpu_build(
    iris_splits: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setenv("TRAINPIPE_DEVICE", "cuda")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ConfigError, match="CPU-only build"):
        check_accelerator(spec_for(iris_splits, "/tmp/x"))
