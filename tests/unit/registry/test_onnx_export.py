"""ONNX export of saved models: signature, metadata, parity with PyTorch, determinism."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from trainpipe.config import ModelConfig
from trainpipe.errors import RegistryError
from trainpipe.models import build_model
from trainpipe.registry.onnx_export import (
    INPUT_NAME,
    OUTPUT_NAME,
    check_parity,
    export_onnx,
)
from trainpipe.train.artifacts import LoadedModel, load_model, save_model
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit

CASES = {
    "mlp-classification": (
        ModelConfig(kind="mlp", hidden=[8, 6], dropout=0.3),
        "classification",
        5,
    ),
    "cnn-classification": (
        ModelConfig(kind="cnn", hidden=[6], channels=[3, 4], image_shape=[1, 4, 4], dropout=0.2),
        "classification",
        16,
    ),
    "mlp-regression": (ModelConfig(kind="mlp", hidden=[4], dropout=0.0), "regression", 3),
}


def saved_model(tmp_path: Path, case: str, seed: int = 0) -> LoadedModel:
    """Build a small untrained model, save it with save_model and load it back."""
    config, task, n_features = CASES[case]
    classes = ["cat", "dog", "emu"] if task == "classification" else []
    n_outputs = len(classes) if classes else 1
    torch.manual_seed(seed)
    module = build_model(config, n_features, n_outputs)
    location = tmp_path / f"{case}-{seed}"
    save_model(
        str(location),
        module,
        model_config=config,
        task=task,
        label="target",
        preprocess=Preprocess(
            features=[f"f{i}" for i in range(n_features)],
            mean=[0.5] * n_features,
            std=[2.0] * n_features,
            target_mean=10.0,
            target_std=3.0,
            classes=classes,
        ),
        metrics={"history": [], "final": {}},
    )
    return load_model(str(location))


def samples(model: LoadedModel, n: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(123)
    return torch.randn(n, len(model.preprocess.features), generator=generator)


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_matches_pytorch(tmp_path: Path, case: str) -> None:
    model = saved_model(tmp_path, case)
    data = export_onnx(model)

    difference = check_parity(model, data, samples(model), atol=1e-5)

    assert 0.0 <= difference <= 1e-5
    assert not model.module.training, "export must leave the model in eval mode"


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_signature_and_metadata(tmp_path: Path, case: str) -> None:
    model = saved_model(tmp_path, case)
    proto = onnx.load_from_string(export_onnx(model))

    onnx.checker.check_model(proto, full_check=True)
    n_features = len(model.preprocess.features)
    assert [v.name for v in proto.graph.input] == [INPUT_NAME]
    assert [v.name for v in proto.graph.output] == [OUTPUT_NAME]
    tensor = proto.graph.input[0].type.tensor_type
    assert tensor.elem_type == onnx.TensorProto.FLOAT
    dims = [(d.dim_param, d.dim_value) for d in tensor.shape.dim]
    assert dims == [("batch", 0), ("", n_features)]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["trainpipe.format"] == "trainpipe.onnx/v2"
    assert meta["trainpipe.task"] == model.task
    assert json.loads(meta["trainpipe.features"]) == model.preprocess.features
    assert json.loads(meta["trainpipe.classes"]) == model.classes
    assert json.loads(meta["trainpipe.input"]) == {
        "name": INPUT_NAME,
        "dtype": "float32",
        "shape": ["batch", n_features],
    }
    spec = json.loads(meta["trainpipe.preprocess"])
    # Saved without a missing-value policy (as by an older trainpipe): incomplete rows refused.
    assert spec["missing"] == {"policy": "", "action": "refuse"}
    assert spec["steps"] == [
        {"op": "refuse_missing", "columns": model.preprocess.features, "policy": ""},
        {
            "op": "standardize",
            "columns": model.preprocess.features,
            "mean": model.preprocess.mean,
            "std": model.preprocess.std,
        },
    ]
    output = json.loads(meta["trainpipe.output"])
    assert output["name"] == OUTPUT_NAME
    if model.task == "classification":
        assert (output["kind"], output["classes"]) == ("logits", model.classes)
    else:
        assert (output["kind"], output["target_mean"], output["target_std"]) == (
            "scaled_target",
            10.0,
            3.0,
        )
    # nothing that depends on where the code lives (stack traces, source paths)
    assert all(not node.doc_string for node in proto.graph.node)
    assert str(Path(__file__).resolve().parents[3]) not in proto.SerializeToString().decode(
        "latin-1"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_dynamic_batch_axis(tmp_path: Path, case: str) -> None:
    model = saved_model(tmp_path, case)
    data = export_onnx(model)
    for n in (1, 7, 100):
        assert check_parity(model, data, samples(model, n), atol=1e-5) <= 1e-5


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_is_deterministic(tmp_path: Path, case: str) -> None:
    first = export_onnx(saved_model(tmp_path, case))
    again = export_onnx(saved_model(tmp_path, case))  # a fresh load of the same weights
    assert first == again
    other = export_onnx(saved_model(tmp_path, case, seed=1))
    assert other != first


def perturbed(data: bytes, delta: float = 0.5) -> bytes:
    """The ONNX model with one weight of its first initializer changed by ``delta``."""
    proto = onnx.load_from_string(data)
    initializer = proto.graph.initializer[0]
    weights = onnx.numpy_helper.to_array(initializer).copy()
    weights.flat[0] += np.float32(delta)
    initializer.CopyFrom(onnx.numpy_helper.from_array(weights, initializer.name))
    return proto.SerializeToString()


@pytest.mark.parametrize("case", sorted(CASES))
def test_perturbed_export_fails_parity(tmp_path: Path, case: str) -> None:
    model = saved_model(tmp_path, case)
    tampered = perturbed(export_onnx(model))

    with pytest.raises(RegistryError, match=r"exceed the tolerance .*atol=1e-05") as info:
        check_parity(model, tampered, samples(model), atol=1e-5)
    assert "does not match PyTorch" in str(info.value)


def test_tolerance_is_respected(tmp_path: Path) -> None:
    model = saved_model(tmp_path, "mlp-classification")
    tampered = perturbed(export_onnx(model), delta=1e-3)
    with pytest.raises(RegistryError, match="atol"):
        check_parity(model, tampered, samples(model), atol=1e-6, rtol=0.0)
    assert check_parity(model, tampered, samples(model), atol=10.0) > 1e-6
    assert check_parity(model, tampered, samples(model), atol=0.0, rtol=10.0) > 1e-6


def test_parity_rejects_wrong_sample_shape(tmp_path: Path) -> None:
    model = saved_model(tmp_path, "mlp-classification")
    data = export_onnx(model)
    with pytest.raises(RegistryError, match=r"samples must have shape \[n >= 1, 5\]"):
        check_parity(model, data, torch.zeros(4, 6))
    with pytest.raises(RegistryError, match="atol"):
        check_parity(model, data, samples(model), atol=-1.0)
    with pytest.raises(RegistryError, match="rtol must be a finite number >= 0, got nan"):
        check_parity(model, data, samples(model), rtol=float("nan"))


def test_parity_rejects_garbage_bytes(tmp_path: Path) -> None:
    model = saved_model(tmp_path, "mlp-classification")
    with pytest.raises(RegistryError, match="onnxruntime cannot run"):
        check_parity(model, b"not an onnx model", samples(model))


def test_nan_output_fails_parity(tmp_path: Path) -> None:
    model = saved_model(tmp_path, "mlp-regression")
    tampered = perturbed(export_onnx(model), delta=float("nan"))
    with pytest.raises(RegistryError, match="onnx nan, abs difference inf"):
        check_parity(model, tampered, samples(model), atol=1e-5)


def test_missing_onnx_packages_give_an_actionable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = saved_model(tmp_path, "mlp-classification")
    data = export_onnx(model)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(RegistryError, match="pip install onnx onnxruntime"):
        export_onnx(model)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(RegistryError, match="'onnxruntime' package, which is missing"):
        check_parity(model, data, samples(model))


def large_output_model(tmp_path: Path) -> LoadedModel:
    """A regression MLP whose outputs are about 2e4 (one float32 step there is 2**-9)."""
    config = ModelConfig(kind="mlp", hidden=[8], dropout=0.0)
    torch.manual_seed(0)
    module = build_model(config, 3, 1)
    with torch.no_grad():
        module.net[3].bias.fill_(20_000.0)
    save_model(
        str(tmp_path / "large"),
        module,
        model_config=config,
        task="regression",
        label="target",
        preprocess=Preprocess(features=["a", "b", "c"], mean=[0.0] * 3, std=[1.0] * 3),
        metrics={"history": [], "final": {}},
    )
    return load_model(str(tmp_path / "large"))


def with_initializer(data: bytes, name: str, change: Callable[[np.ndarray], np.ndarray]) -> bytes:
    """The ONNX model with the initializer ``name`` replaced by ``change(its values)``."""
    proto = onnx.load_from_string(data)
    (initializer,) = [i for i in proto.graph.initializer if i.name == name]
    values = change(onnx.numpy_helper.to_array(initializer).copy())
    initializer.CopyFrom(onnx.numpy_helper.from_array(values, name))
    return proto.SerializeToString()


def test_a_float32_step_at_large_outputs_passes(tmp_path: Path) -> None:
    model = large_output_model(tmp_path)
    inputs = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    outputs = model.predict_tensor(inputs)
    assert float(outputs.min()) > 19_000 and float(outputs.max()) < 21_000
    # The output bias one float32 step higher: the outputs move by about one step (~0.002).
    nudged = with_initializer(
        export_onnx(model), "net.3.bias", lambda b: np.nextafter(b, np.float32(np.inf))
    )

    difference = check_parity(model, nudged, inputs)

    assert 1e-4 < difference <= 2 * 2.0**-9
    with pytest.raises(RegistryError, match="does not match PyTorch"):
        check_parity(model, nudged, inputs, atol=1e-4, rtol=0.0)  # the old fixed tolerance


def test_a_tampered_weight_at_large_outputs_still_fails(tmp_path: Path) -> None:
    model = large_output_model(tmp_path)
    inputs = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    # One weight of the output layer off by 0.5: the outputs move by up to a few units.
    tampered = with_initializer(
        export_onnx(model), "net.3.weight", lambda w: w + np.eye(1, 8, dtype=np.float32) / 2
    )

    with pytest.raises(RegistryError) as info:
        check_parity(model, tampered, inputs)

    message = str(info.value)
    assert "|onnx - torch| <= atol + rtol * |torch| (atol=0.0001, rtol=1e-05)" in message
    match = re.search(
        r"torch (\S+), onnx (\S+), abs difference (\S+), relative difference (\S+) "
        r"\(allowed (\S+)\)",
        message,
    )
    assert match, message
    torch_value, onnx_value, absolute, relative, allowed = (float(g) for g in match.groups())
    assert absolute == pytest.approx(abs(onnx_value - torch_value), rel=1e-2)
    assert relative == pytest.approx(absolute / abs(torch_value), rel=1e-2)
    assert 19_000 < abs(torch_value) < 21_000 and absolute > allowed > 0.19
