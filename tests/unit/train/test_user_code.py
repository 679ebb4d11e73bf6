"""A user's model factory and loss: trained like a built-in model, and every mistake in them is
caught before any job starts, with a message that names it and writes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import torch

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, RegistryError, UserCodeError
from trainpipe.evaluate.gate import evaluate_gate
from trainpipe.evaluate.stages import Evaluation
from trainpipe.launch.train_job import train_model
from trainpipe.registry.register import register_model
from trainpipe.registry.registry import ModelRegistry
from trainpipe.runs.stages import read_records
from trainpipe.storage.factory import open_store
from trainpipe.train.artifacts import load_model
from trainpipe.train.distributed import DistContext
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit

USER_CODE = Path(__file__).resolve().parents[2] / "user_code"


@pytest.fixture(autouse=True)
def user_code_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(USER_CODE))


def make_config(model: dict[str, Any], **train: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": "builtin:iris"},
            "model": {"kind": "custom", **model},
            "train": {"epochs": 1, "backend": "inprocess", "num_threads": 1, **train},
            "tune": {"max_trials": 0},
        }
    )


def train(config: RunConfig, splits: dict[str, str], output: Path) -> list[str]:
    lines: list[str] = []
    train_model(
        config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(output),
        log=lines.append,
    )
    return lines


def test_a_factory_and_a_loss_train_register_ready_and_load_back(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = make_config(
        {"factory": "digits_net.mistakes:linear", "params": {"bias": False}},
        loss="digits_net.mistakes:focal_loss",
    )
    lines = train(config, iris_splits, tmp_path / "model")
    preflight = next(line for line in lines if "preflight ok" in line)
    assert "model.factory digits_net.mistakes:linear built a Linear (12 parameters)" in preflight
    assert "train.loss digits_net.mistakes:focal_loss = " in preflight
    loaded = load_model(str(tmp_path / "model"))
    assert loaded.description["model"]["params"] == {"bias": False}
    assert type(loaded.module).__name__ == "Linear" and loaded.module.bias is None
    row = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=loaded.preprocess.features)
    assert loaded.predict_tensor(loaded.preprocess.transform_features(row)).shape == (1, 3)


def test_the_validation_loss_is_the_users_loss(iris_splits: dict[str, str], tmp_path: Path) -> None:
    """Tuning and early reads of val_loss see the loss training minimizes."""
    model = {"factory": "digits_net.mistakes:linear"}
    focal = train(make_config(model, loss="digits_net.mistakes:focal_loss"), iris_splits,
                  tmp_path / "focal")  # fmt: skip
    plain = train(make_config(model), iris_splits, tmp_path / "plain")
    val = [re.search(r"val_loss=([0-9.e-]+)", "\n".join(lines)) for lines in (focal, plain)]
    assert val[0] and val[1] and float(val[0][1]) < float(val[1][1])  # focal loss is smaller


@pytest.mark.parametrize(
    ("model", "train_settings", "message"),
    [
        ({"factory": "no_such_pkg.model:build"}, {},
         r"model\.factory 'no_such_pkg\.model:build': no module named 'no_such_pkg'; searched "
         r"no code: folder, only sys\.path \(.*user_code"),
        ({"factory": "digits_net.cnn:nope"}, {},
         r"module 'digits_net\.cnn' \(.*cnn\.py\) has no attribute 'nope'; it defines .*build"),
        ({"factory": "digits_net:__doc__"}, {}, r"is a str, not a function"),
        ({"factory": "digits_net.mistakes:raises"}, {},
         r"raised KeyError: 'large' at .*mistakes\.py:\d+ in raises: return nn\.Linear"),
        ({"factory": "digits_net.mistakes:returns_weights"}, {},
         r"returned a OrderedDict, not a torch\.nn\.Module; return the model"),
        ({"factory": "digits_net.mistakes:one_output_too_many"}, {},
         r"returned \[64, 4\] for a batch of \[64, 4\]; classification needs \[64, 3\]"),
        ({"factory": "digits_net.mistakes:wrong_input_width"}, {},
         r"failed on a batch of \[64, 4\] float features: RuntimeError: .*mat1 and mat2"),
        ({"factory": "digits_net.mistakes:linear", "params": {"biass": True}}, {},
         r"model\.params \{'biass': True\} do not fit .*unexpected keyword argument 'biass'.*"
         r"then bias"),
        ({"factory": "digits_net.mistakes:linear"}, {"loss": "digits_net.mistakes:per_row_loss"},
         r"train\.loss 'digits_net\.mistakes:per_row_loss' returned \[64\] on the first batch; "
         r"return the batch's mean loss as a scalar"),
        ({"factory": "digits_net.mistakes:linear"},
         {"loss": "digits_net.mistakes:log_of_zero_loss"},
         r"returned inf on the first batch of 64 rows, before any training"),
    ],
)  # fmt: skip
def test_each_mistake_stops_before_training_and_writes_nothing(
    iris_splits: dict[str, str],
    tmp_path: Path,
    model: dict[str, Any],
    train_settings: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(UserCodeError, match=message):
        train(make_config(model, **train_settings), iris_splits, tmp_path / "model")
    assert not (tmp_path / "model").exists() or not any((tmp_path / "model").iterdir())


def test_a_module_that_does_not_compile_names_its_file_and_line(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "typo_net.py").write_text("def build(inputs):\n    return nn.Linear(4, 3\n")
    (tmp_path / "needs_more.py").write_text("import torchfancy\n\ndef build(inputs): ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserCodeError, match=r"'typo_net' has a syntax error at .*typo_net\.py:2"):
        train(make_config({"factory": "typo_net:build"}), iris_splits, tmp_path / "a")
    with pytest.raises(
        UserCodeError,
        match=r"importing 'needs_more' failed, it imports the missing module 'torchfancy' "
        r"\(.*needs_more\.py:1 in <module>: import torchfancy\)",
    ):
        train(make_config({"factory": "needs_more:build"}), iris_splits, tmp_path / "b")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": {"kind": "custom"}}, "model.factory must be the 'package.module:function'"),
        ({"model": {"factory": "a.b:c"}}, "model.kind must be custom when model.factory"),
        ({"model": {"params": {"width": 3}}}, "model.kind must be custom when model.factory"),
        ({"model": {"kind": "custom", "factory": "a.b.c"}},
         "model.factory must be 'package.module:attribute'"),
        ({"train": {"loss": "focal"}}, "train.loss must be 'package.module:attribute'"),
        ({"train": {"loss": "a:b", "imbalance": "class_weights"}},
         "train.imbalance must be oversample, undersample or none with train.loss"),
    ],
)  # fmt: skip
def test_config_refuses_what_cannot_name_user_code(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig.from_dict({"data": {"source": "builtin:iris"}, **data})


def test_a_model_without_an_onnx_export_registers_with_the_reason_unless_required(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = make_config({"factory": "digits_net.mistakes:not_exportable"})
    train(config, iris_splits, tmp_path / "model")
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    required = config.with_overrides({"registry.onnx": "required"})
    with pytest.raises(RegistryError, match=r"aten::digamma.*registry\.onnx is required"):
        register_model(registry, str(tmp_path / "model"), config=required, name="odd")
    assert registry.list_versions("odd") == []
    result = register_model(registry, str(tmp_path / "model"), config=config, name="odd")
    assert "'aten::digamma' to ONNX" in result.onnx_missing
    version = open_store(result.uri)
    assert_the_register_stage_says_so(config, tmp_path)
    assert "model.onnx" not in version.list() and version.exists("model.safetensors")
    onnx = version.read_json("lineage.json")["onnx"]
    assert onnx["exported"] is False and "'aten::digamma' to ONNX" in onnx["reason"]
    card = version.read_bytes("MODEL_CARD.md").decode()
    assert "- **ONNX:** not exported: cannot export the custom classification model" in card
    assert "the user's model, built by `digits_net.mistakes:not_exportable`" in card


class Interrupt(Exception):
    """Stands in for a crash between two epochs."""


def test_the_loops_guarantees_hold_for_a_user_model(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resume is exact, a non-finite step rolls back, an out-of-memory step backs off."""
    config = make_config(
        {"factory": "digits_net.mistakes:mlp", "params": {"hidden": 16}},
        epochs=3, batch_size=16, loss="digits_net.mistakes:focal_loss",
    )  # fmt: skip

    def spec(name: str) -> TrainSpec:
        return TrainSpec(
            config=config,
            train_data=iris_splits["train"],
            validation_data=iris_splits["validation"],
            output=str(tmp_path / name),
        )

    straight = fit(spec("straight"), DistContext(), log=lambda line: None)

    def crash(epoch: int, row: dict[str, float]) -> None:
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(spec("resumed"), DistContext(), on_epoch=crash, log=lambda line: None)
    resumed = fit(spec("resumed"), DistContext(), log=lambda line: None)
    assert resumed.resumed_from_epoch == 2
    for mine, yours in zip(
        straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, yours)

    monkeypatch.setenv("TRAINPIPE_INJECT_NAN_AT_STEP", "5")
    monkeypatch.setenv("TRAINPIPE_INJECT_OOM_AT_STEP", "9")
    guarded = fit(spec("guarded"), DistContext(), log=lambda line: None)
    actions = [event.get("action") for event in guarded.events]
    assert "rollback" in actions and "micro_batch_halved" in actions
    assert len(guarded.history) == 3


def assert_the_register_stage_says_so(config: RunConfig, tmp_path: Path) -> None:
    """The pipeline's register step echoes the missing ONNX export on the console."""
    from trainpipe_components.register import register_op

    evaluation = Evaluation(
        split="test", metrics={"accuracy": 0.9}, gate=evaluate_gate({"accuracy": 0.9}, {})
    )
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation.to_dict()))
    staged = config.with_overrides(
        {"stage_records": str(tmp_path / "stages"), "registry.uri": str(tmp_path / "pipeline")}
    )
    register_op.python_func(
        config_json=staged.to_json(),
        best_params="{}",
        run_id="run-1",
        dataset=SimpleNamespace(metadata={}),
        model=SimpleNamespace(path=str(tmp_path / "model"), uri=str(tmp_path / "model")),
        evaluation=SimpleNamespace(path=str(tmp_path / "evaluation.json")),
    )
    (record,) = read_records(str(tmp_path / "stages"))
    (notice,) = record.outputs["notices"]
    assert notice.startswith("register: model:1 has no model.onnx: cannot export the custom")
