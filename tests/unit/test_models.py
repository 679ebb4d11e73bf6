"""Unit tests for trainpipe.models: shapes, gradients, determinism and CNN shape checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainpipe.config import ModelConfig
from trainpipe.errors import ConfigError
from trainpipe.models import CNN, MLP, build_model

pytestmark = pytest.mark.unit

MLP_CONFIG = ModelConfig(kind="mlp", hidden=[16, 8], dropout=0.1)
CNN_CONFIG = ModelConfig(kind="cnn", image_shape=[1, 8, 8], channels=[4, 8], hidden=[16])
CASES = [(MLP_CONFIG, 30, 2), (CNN_CONFIG, 64, 10)]
IDS = ["mlp", "cnn"]


@pytest.mark.parametrize(("config", "n_features", "n_outputs"), CASES, ids=IDS)
def test_output_shape(config: ModelConfig, n_features: int, n_outputs: int) -> None:
    model = build_model(config, n_features, n_outputs)
    for batch in (1, 7):
        assert model(torch.randn(batch, n_features)).shape == (batch, n_outputs)


def test_build_model_picks_the_architecture() -> None:
    assert isinstance(build_model(MLP_CONFIG, 30, 2), MLP)
    assert isinstance(build_model(CNN_CONFIG, 64, 10), CNN)


def test_mlp_layers_follow_the_config() -> None:
    model = build_model(MLP_CONFIG, 30, 3)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(30, 16), (16, 8), (8, 3)]
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in dropouts] == [0.1, 0.1]


def test_cnn_layers_follow_the_config() -> None:
    model = build_model(CNN_CONFIG, 64, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4), (4, 8)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    # 8x8 -> 4x4 -> 2x2 after two pools, 8 channels
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 2 * 2, 16), (16, 10)]


def test_cnn_stops_pooling_on_tiny_images() -> None:
    config = ModelConfig(kind="cnn", image_shape=[2, 2, 2], channels=[3, 3, 3], hidden=[])
    model = build_model(config, 8, 4)
    assert model(torch.randn(5, 8)).shape == (5, 4)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 1


@pytest.mark.parametrize(("config", "n_features", "n_outputs"), CASES, ids=IDS)
def test_gradient_reaches_every_parameter(
    config: ModelConfig, n_features: int, n_outputs: int
) -> None:
    torch.manual_seed(0)
    model = build_model(config, n_features, n_outputs)
    model.train()
    x = torch.randn(32, n_features)
    y = torch.randint(0, n_outputs, (32,))
    nn.functional.cross_entropy(model(x), y).backward()
    params = list(model.named_parameters())
    assert params
    for name, param in params:
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("config", "n_features", "n_outputs"), CASES, ids=IDS)
def test_same_seed_builds_identical_models(
    config: ModelConfig, n_features: int, n_outputs: int
) -> None:
    torch.manual_seed(123)
    first = build_model(config, n_features, n_outputs)
    torch.manual_seed(123)
    second = build_model(config, n_features, n_outputs)
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    x = torch.randn(4, n_features)
    first.eval()
    second.eval()
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)

    torch.manual_seed(124)
    other = build_model(config, n_features, n_outputs)
    assert any(not torch.equal(a[k], other.state_dict()[k]) for k in a)


def test_dropout_is_off_in_eval_mode() -> None:
    model = build_model(ModelConfig(hidden=[64], dropout=0.5), 10, 3)
    model.eval()
    x = torch.randn(6, 10)
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [[1, 8, 8], [3, 4, 4], [1, 5, 5]])
def test_cnn_with_mismatching_image_shape(shape: list[int]) -> None:
    config = ModelConfig(kind="cnn", image_shape=shape, channels=[4])
    with pytest.raises(ConfigError) as info:
        build_model(config, 30, 2)
    message = str(info.value)
    assert "model.image_shape" in message
    assert str(shape) in message
    assert "30 features" in message
