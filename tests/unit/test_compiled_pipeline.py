"""The compiled pipeline YAML in the repo is exactly what compiling the pipeline gives today."""

from pathlib import Path

import pytest
import yaml
from trainpipe_pipelines.training_pipeline import COMPILED, compile_pipeline

pytestmark = pytest.mark.unit


def _documents(path: Path) -> list[dict]:
    """The pipeline spec, then (when the pipeline sets any) the platform spec."""
    documents = list(yaml.safe_load_all(path.read_text()))
    documents[0].pop("sdkVersion", None)
    return documents


def _load(path: Path) -> dict:
    return _documents(path)[0]


def test_compiled_yaml_is_up_to_date(tmp_path: Path) -> None:
    fresh = compile_pipeline(tmp_path / "pipeline.yaml")
    assert _documents(fresh) == _documents(COMPILED), "run `make compile` and commit the result"


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


CUSTOM_IMAGE = "registry.example/team/trainpipe:0123abc-cpu"


def _executor_images(spec: dict) -> set[str]:
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}


def test_compiling_for_an_image_wires_it_into_every_step_and_the_training_pods(
    tmp_path: Path,
) -> None:
    from trainpipe_components.image import DEFAULT_IMAGE

    from trainpipe.config import RunConfig

    committed = _load(COMPILED)
    assert _executor_images(committed) == {DEFAULT_IMAGE}
    spec = _load(compile_pipeline(tmp_path / "custom.yaml", image=CUSTOM_IMAGE))
    assert _executor_images(spec) == {CUSTOM_IMAGE}
    assert len(spec["deploymentSpec"]["executors"]) == len(committed["deploymentSpec"]["executors"])
    default = spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"]
    assert RunConfig.from_json(default).job.image == CUSTOM_IMAGE
    assert DEFAULT_IMAGE not in (tmp_path / "custom.yaml").read_text()
    # Only the image differs from the committed pipeline.
    text = (tmp_path / "custom.yaml").read_text().replace(CUSTOM_IMAGE, DEFAULT_IMAGE)
    reverted = list(yaml.safe_load_all(text))
    reverted[0].pop("sdkVersion", None)
    assert reverted == _documents(compile_pipeline(tmp_path / "default.yaml"))


def test_compile_rejects_a_malformed_image(tmp_path: Path) -> None:
    from trainpipe.errors import ConfigError

    with pytest.raises(ConfigError, match=r"image 'not an image' is not an image reference"):
        compile_pipeline(tmp_path / "bad.yaml", image="not an image")
    assert not (tmp_path / "bad.yaml").exists()


def test_every_pipeline_parameter_has_a_description_and_a_usable_default() -> None:
    from trainpipe.config import RunConfig

    spec = _load(COMPILED)
    assert "trainpipe-launcher" in spec["pipelineInfo"]["description"]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {"config_json"}
    for name, parameter in parameters.items():
        assert parameter.get("description", "").strip(), f"{name} has no description"
        assert "defaultValue" in parameter, f"{name} has no default for the dashboard"
    RunConfig.from_json(parameters["config_json"]["defaultValue"])


def test_the_tuning_fan_out_comes_from_the_config() -> None:
    # One source of truth: ParallelFor iterates over what tune-setup returns, which is
    # tune.parallel_trials worker ids taken from the run's own config.
    spec = _load(COMPILED)
    tasks = spec["root"]["dag"]["tasks"]
    loop = tasks["for-loop-1"]["parameterIterator"]["items"]
    assert loop == {"inputParameter": "pipelinechannel--tune-setup-op-Output"}
    assert tasks["for-loop-1"]["inputs"]["parameters"]["pipelinechannel--tune-setup-op-Output"] == {
        "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "tune-setup-op"}
    }


def test_compiled_yaml_loads_back_as_a_pipeline_spec() -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    # The same parse the KFP backend does on upload: unknown fields are errors.
    spec = json_format.ParseDict(_load(COMPILED), pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "trainpipe-training"
    assert set(spec.root.input_definitions.parameters) == {"config_json"}


def test_every_step_gets_the_storage_settings_by_reference_only() -> None:
    spec, platform = _documents(COMPILED)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(spec["deploymentSpec"]["executors"])
    for name, config in executors.items():
        (secret,) = config["secretAsEnv"]
        assert secret["secretName"] == "trainpipe-s3-credentials" and secret["optional"], name
        assert {k["envVar"] for k in secret["keyToEnv"]} == {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        }
        (config_map,) = config["configMapAsEnv"]
        assert config_map["configMapName"] == "trainpipe-storage" and config_map["optional"]
        assert "TRAINPIPE_S3_ENDPOINT" in {k["envVar"] for k in config_map["keyToEnv"]}


def _integer_fields(obj: object, data: dict, path: str = "") -> list[tuple[str, object]]:
    """``(dotted key, value as written)`` of every config value typed ``int`` (not float): the
    fields, and each item of a ``list[int]`` field."""
    import dataclasses
    import types
    import typing

    found: list[tuple[str, object]] = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value, written, hint = getattr(obj, f.name), data[f.name], hints[f.name]
        key = f"{path}{f.name}"
        args = typing.get_args(hint)
        if dataclasses.is_dataclass(value):
            found += _integer_fields(value, written, key + ".")
        elif typing.get_origin(hint) in (list, tuple) and args and args[0] is int:
            found += [(f"{key}[{i}]", item) for i, item in enumerate(written)]
        elif hint is int or (
            typing.get_origin(hint) in (typing.Union, types.UnionType)
            and int in args
            and float not in args
        ):
            found.append((key, written))
    return found


def test_no_integer_is_written_as_a_float() -> None:
    # Every integer the dashboard shows must be one: a NUMBER_INTEGER parameter's default (the
    # pipeline once had a tune_workers parameter written as 4.0), and every config setting typed
    # int inside the default config_json, which a run started from the dashboard reads back.
    import json

    from trainpipe.config import RunConfig

    spec = _load(COMPILED)
    definitions = [spec["root"]["inputDefinitions"]]
    definitions += [c.get("inputDefinitions", {}) for c in spec["components"].values()]
    integer_defaults = [
        (name, p["defaultValue"])
        for d in definitions
        for name, p in d.get("parameters", {}).items()
        if p["parameterType"] == "NUMBER_INTEGER" and "defaultValue" in p
    ]
    assert all(type(value) is int for _, value in integer_defaults), integer_defaults
    default = spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"]
    fields = _integer_fields(RunConfig.from_json(default), json.loads(default))
    assert {"seed", "train.epochs", "train.batch_size", "tune.parallel_trials"} <= dict(
        fields
    ).keys()
    floats = [(key, value) for key, value in fields if type(value) is not int and value is not None]
    assert not floats, f"integer settings written as floats: {floats}"
