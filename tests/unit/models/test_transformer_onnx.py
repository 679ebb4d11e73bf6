"""Every transformer variant, and the ResNet and 1-D CNN for file datasets, export to ONNX (the
registry's exporter) and match PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainpipe.config import ModelConfig
from trainpipe.models import build_model
from trainpipe.registry.onnx_export import check_parity, export_onnx
from trainpipe.train.artifacts import LoadedModel, load_model, save_model
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit

SIGNALS = {
    "signals": ModelConfig(kind="transformer", d_model=16, heads=2, layers=2, dropout=0.2),
    "causal-channels": ModelConfig(
        kind="transformer", d_model=8, heads=2, layers=1, sequence_channels=3, causal=True
    ),
    "patches": ModelConfig(kind="transformer", d_model=8, heads=1, layers=1, patch_size=4),
}


def preprocess(n_features: int, classes: list[str]) -> Preprocess:
    return Preprocess(
        features=[f"t{i:03d}" for i in range(n_features)],
        mean=[0.0] * n_features,
        std=[1.0] * n_features,
        classes=classes,
    )


@pytest.mark.parametrize("case", sorted(SIGNALS))
def test_signal_transformer_round_trips_and_exports(tmp_path: Path, case: str) -> None:
    config = SIGNALS[case]
    torch.manual_seed(0)
    module = build_model(config, 24, 3)
    save_model(
        str(tmp_path / "model"),
        module,
        model_config=config,
        task="classification",
        label="target",
        preprocess=preprocess(24, ["a", "b", "c"]),
        metrics={"history": [], "final": {}},
    )
    model = load_model(str(tmp_path / "model"))  # rebuilt from model.json: the config round-trips
    x = torch.randn(9, 24)
    torch.testing.assert_close(model.predict_tensor(x), module.eval()(x))
    data = export_onnx(model)
    for n in (1, 5, 64):
        assert check_parity(model, data, torch.randn(n, 24), atol=1e-5) <= 1e-5
    assert export_onnx(model) == data, "the same weights give the same bytes"


def test_token_transformer_exports_with_padding(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = ModelConfig(kind="transformer", d_model=16, heads=2, layers=2, causal=True)
    module = build_model(config, 8, 2, vocab_size=20).eval()
    model = LoadedModel(
        module=module,
        task="classification",
        label="target",
        preprocess=preprocess(8, ["neg", "pos"]),
        description={"model": {"kind": "transformer"}, "n_features": 8},
    )
    ids = torch.randint(1, 20, (12, 8))
    ids[:, 5:] = 0
    ids[0] = 0  # one row of padding only
    assert check_parity(model, export_onnx(model), ids.float(), atol=1e-5) <= 1e-5


@pytest.mark.parametrize(
    ("config", "n_features"),
    [
        (ModelConfig(kind="resnet", image_shape=[3, 12, 12], channels=[8, 16]), 3 * 12 * 12),
        (ModelConfig(kind="cnn1d", image_shape=[1, 8, 20], channels=[8, 16]), 160),
    ],
    ids=["resnet", "cnn1d"],
)
def test_the_file_dataset_models_export_with_parity(
    tmp_path: Path, config: ModelConfig, n_features: int
) -> None:
    torch.manual_seed(0)
    module = build_model(config, n_features, 3)
    save_model(
        str(tmp_path / "model"),
        module,
        model_config=config,
        task="classification",
        label="target",
        preprocess=preprocess(n_features, ["a", "b", "c"]),
        metrics={"history": [], "final": {}},
    )
    model = load_model(str(tmp_path / "model"))
    data = export_onnx(model)
    for n in (1, 7):
        assert check_parity(model, data, torch.randn(n, n_features), atol=1e-4) <= 1e-4
