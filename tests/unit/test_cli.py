"""The `trainpipe` command line: argument handling, one-line errors, the registry commands."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainpipe.cli import main
from trainpipe.config import ModelConfig
from trainpipe.doctor import examine
from trainpipe.models import build_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.train.artifacts import save_model
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _register(registry_dir: Path, model_dir: Path, accuracy: float) -> None:
    config = ModelConfig(kind="mlp", hidden=[4], dropout=0.0)
    preprocess = Preprocess(
        features=["a", "b"], mean=[0.0, 0.0], std=[1.0, 1.0], classes=["x", "y"]
    )
    save_model(
        str(model_dir),
        build_model(config, 2, 2),
        model_config=config,
        task="classification",
        label="target",
        preprocess=preprocess,
        metrics={"history": [], "final": {}},
    )
    lineage = build_lineage(config={"seed": 1}, data_hash="abc123", metrics={"accuracy": accuracy})
    ModelRegistry.open(str(registry_dir)).register("toy", str(model_dir), lineage=lineage)


def test_registry_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry_dir = tmp_path / "registry"
    _register(registry_dir, tmp_path / "m1", 0.9)
    _register(registry_dir, tmp_path / "m2", 0.95)

    assert main(["registry", "list", "--store", str(registry_dir)]) == 0
    assert "toy: 2 version(s), latest 2 accuracy=0.9500" in capsys.readouterr().out

    assert main(["registry", "show", "toy:1", "--store", str(registry_dir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 1
    assert shown["lineage"]["data_hash"] == "abc123"
    assert shown["metrics"] == {"accuracy": 0.9}

    assert main(["registry", "show", "toy", "--store", str(registry_dir)]) == 0
    assert capsys.readouterr().out.startswith("toy:2 ")


def test_missing_version_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_dir = tmp_path / "registry"
    _register(registry_dir, tmp_path / "m1", 0.9)
    assert main(["registry", "show", "toy:7", "--store", str(registry_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "trainpipe: error: model 'toy' has no version 7; versions: 1"


def test_bad_config_value_fails_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(REPO / "pipelines" / "configs" / "digits.yaml")
    code = main(["run", "--config", config, "--set", "train.epochs=0", "--run-dir", str(tmp_path)])
    assert code == 1
    assert "train.epochs must be >= 1, got 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_compile_takes_the_default_config_from_config_and_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml
    from trainpipe_components.image import IMAGE

    from trainpipe.config import load_config

    config = REPO / "pipelines" / "configs" / "breast_cancer.yaml"
    output = tmp_path / "p.yaml"
    components = tmp_path / "components"
    argv = ["compile", "--output", str(output), "--config", str(config), "--set", "train.epochs=3"]
    assert main([*argv, "--components-dir", str(components)]) == 0

    assert capsys.readouterr().out == (
        f"compiled {output} with the default config {config}\n"
        f"compiled 9 components into {components}\n"
    )
    assert len(list(components.glob("*.yaml"))) == 9
    spec = next(yaml.safe_load_all(output.read_text()))
    default = spec["root"]["inputDefinitions"]["parameters"]["config_json"]["defaultValue"]
    expected = load_config(config, ["train.epochs=3", f"job.image={IMAGE}"])
    assert default == expected.to_json()
    assert (expected.name, expected.train.epochs) == ("breast-cancer", 3)


def test_compile_refuses_a_bad_config_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(REPO / "pipelines" / "configs" / "breast_cancer.yaml")
    output = tmp_path / "p.yaml"
    argv = ["compile", "--output", str(output), "--config", config, "--set", "train.epochs=0"]
    assert main(argv) == 1
    assert "train.epochs must be >= 1, got 0" in capsys.readouterr().err
    assert not output.exists()


def test_a_reader_that_closes_early_ends_the_output_without_a_traceback(tmp_path: Path) -> None:
    # `trainpipe registry show toy | head -0`: the reader is gone before the first write.
    registry_dir = tmp_path / "registry"
    _register(registry_dir, tmp_path / "m1", 0.9)
    command = [sys.executable, "-m", "trainpipe.cli", "registry", "show", "toy", "--store",
               str(registry_dir)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait() == 141  # 128 + SIGPIPE, as a shell reports a closed pipe
    assert err == ""


def test_unknown_key_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(REPO / "pipelines" / "configs" / "digits.yaml")
    assert main(["train", "--config", config, "--output", "x", "--set", "train.epochz=3"]) == 1
    assert "unknown key train.epochz" in capsys.readouterr().err


def test_registry_register_records_config_data_hash_and_parent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `trainpipe train` runs, the second warm-started from the first, registered by the CLI
    with their config: the lineage holds the config, the data hash and the parent."""
    import yaml

    registry_dir = tmp_path / "registry"
    config_file = tmp_path / "iris.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "name": "iris-cli",
                "seed": 3,
                "data": {"source": "builtin:iris"},
                "model": {"hidden": [8], "dropout": 0.0},
                "train": {"epochs": 2, "batch_size": 32, "backend": "inprocess", "num_threads": 1,
                          "sanity_checks": False},
                "evaluate": {"require_beat_baseline": False},  # no baselines without the checks
                "registry": {"uri": str(registry_dir), "model_name": "iris-cli"},
            }
        )
    )  # fmt: skip
    base = ["--config", str(config_file)]
    assert main(["train", *base, "--output", str(tmp_path / "first")]) == 0
    # The doctor reads a `trainpipe train` output as a trained model, not as a failed run.
    capsys.readouterr()
    assert main(["doctor", str(tmp_path / "first")]) == 0
    assert capsys.readouterr().out.startswith("run first: trained, ")
    assert examine(tmp_path / "first").status == "trained"
    assert not (tmp_path / "first" / "summary.json").exists()
    assert main(["registry", "register", "--name", "iris-cli", "--model-dir",
                 str(tmp_path / "first"), *base]) == 0  # fmt: skip
    assert main(["registry", "promote", "iris-cli:1", *base]) == 0
    warm = ["--set", "train.warm_start=iris-cli@champion", "--set", "train.epochs=1"]
    assert main(["train", *base, *warm, "--output", str(tmp_path / "second")]) == 0
    capsys.readouterr()

    assert main(["registry", "register", "--name", "iris-cli", "--model-dir",
                 str(tmp_path / "second"), *base, *warm, "--json"]) == 0  # fmt: skip
    registered = json.loads(capsys.readouterr().out)
    assert (registered["version"], registered["alias"]) == (2, None)
    lineage = ModelRegistry.open(str(registry_dir)).lineage("iris-cli", 2)
    assert lineage["config"]["name"] == "iris-cli"
    assert lineage["config"]["train"]["warm_start"] == "iris-cli@champion"  # the --set applied
    assert lineage["config"]["train"]["epochs"] == 1
    model_json = json.loads((tmp_path / "second" / "model.json").read_text())
    assert len(lineage["data_hash"]) == 64 and lineage["data_hash"] == model_json["data_hash"]
    assert lineage["parent"] == "iris-cli:1"
    assert lineage["source"] == str(tmp_path / "second")

    assert main(["registry", "show", "iris-cli:2", "--store", str(registry_dir)]) == 0
    shown = capsys.readouterr().out
    assert "  parent: iris-cli:1\n" in shown
    assert f"  data hash: {lineage['data_hash']}\n" in shown
    assert "  config: iris-cli (seed 3)\n" in shown

    assert main(["registry", "show", "iris-cli:1", "--store", str(registry_dir)]) == 0
    first = capsys.readouterr().out
    assert "  parent: none\n" in first
    assert "  alias history:\n" in first and "champion: None -> 1 (promote)" in first


def test_registering_the_same_model_directory_twice_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry_dir = tmp_path / "registry"
    _register(registry_dir, tmp_path / "m1", 0.9)  # toy:1, the directory m1
    base = ["registry", "register", "--name", "toy", "--store", str(registry_dir), "--model-dir"]
    capsys.readouterr()

    assert main([*base, str(tmp_path / "m1")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("registered toy:2 at ")
    assert err == (
        "trainpipe: warning: toy:2 holds the same model files, byte for byte, as toy:1: the "
        "same model registered again\n"
    )
    _register(registry_dir, tmp_path / "m3", 0.9)  # toy:3, another directory
    capsys.readouterr()
    assert main([*base, str(tmp_path / "m3"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["same_model_as"] == [3]
    assert "toy:4 holds the same model files, byte for byte, as toy:3" in err


def test_registry_set_without_config_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["registry", "list", "--store", str(tmp_path), "--set", "seed=1"])
    assert code == 1
    assert "--set seed=1 needs --config FILE" in capsys.readouterr().err


def test_a_broken_pipe_that_is_not_stdout_is_not_swallowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A socket to the object store breaking mid-upload is an error, not the end of the output.
    from trainpipe import cli

    def upload_breaks(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "cmd_registry", upload_breaks)
    with pytest.raises(BrokenPipeError):
        main(["registry", "list", "--store", str(tmp_path)])
