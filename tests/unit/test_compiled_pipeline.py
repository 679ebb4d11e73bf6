"""The compiled pipeline YAML in the repo is exactly what compiling the pipeline gives today."""

from pathlib import Path

import pytest
import yaml
from trainpipe_pipelines.training_pipeline import COMPILED, compile_pipeline

pytestmark = pytest.mark.unit


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    document.pop("sdkVersion", None)
    return document


def test_compiled_yaml_is_up_to_date(tmp_path: Path) -> None:
    fresh = compile_pipeline(tmp_path / "pipeline.yaml")
    assert _load(fresh) == _load(COMPILED), "run `make compile` and commit the result"


def test_compiled_yaml_loads_back_with_kfp() -> None:
    from kfp import components

    pipeline = components.load_component_from_file(str(COMPILED))
    assert pipeline.name == "trainpipe-training"
    spec = _load(COMPILED)
    tasks = spec["root"]["dag"]["tasks"]
    assert {"ingest-op", "split-op", "train-op", "evaluate-op", "condition-2"} <= set(tasks)
    assert spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"]


def test_no_credential_reaches_the_compiled_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "compiled-s3cr3t")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "compiled-key-id")
    text = compile_pipeline(tmp_path / "pipeline.yaml").read_text()
    assert "compiled-s3cr3t" not in text and "compiled-key-id" not in text
    assert "trainpipe-s3-credentials" in text  # the Secret is referenced by name only
