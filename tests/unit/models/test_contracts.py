"""Shape and dtype assertions at the model boundaries: expected vs actual in the message."""

from __future__ import annotations

import pytest
import torch

from trainpipe.config import ModelConfig
from trainpipe.errors import TrainingError
from trainpipe.models import ModelInputError, build_model, expect_shape
from trainpipe.models.contracts import describe

pytestmark = pytest.mark.unit

MODELS = {
    "MLP": (ModelConfig(kind="mlp", hidden=[8]), 64),
    "CNN": (ModelConfig(kind="cnn", image_shape=[1, 8, 8], channels=[2], hidden=[4]), 64),
    "SequenceTransformer": (ModelConfig(kind="transformer", d_model=8, heads=2, layers=1), 64),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (torch.zeros(32, 63), "[32, 63] torch.float32"),
        (torch.zeros(32, 64, dtype=torch.int64), "[32, 64] torch.int64"),
        (torch.zeros(4, 1, 64), "[4, 1, 64] torch.float32"),
        (torch.zeros(64), "[64] torch.float32"),
    ],
    ids=["features", "dtype", "3d", "1d"],
)
def test_every_model_checks_its_input(name: str, bad: torch.Tensor, shown: str) -> None:
    config, n_features = MODELS[name]
    model = build_model(config, n_features, 3)
    with pytest.raises(ModelInputError) as info:
        model(bad)
    message = str(info.value)
    assert message.startswith(f"{name} expected input [batch, 64] float, got {shown}; ")
    assert "64 standardized features" in message
    assert isinstance(info.value, TrainingError)
    assert model(torch.zeros(2, n_features)).shape == (2, 3)


def test_the_message_of_the_issue() -> None:
    model = build_model(ModelConfig(kind="mlp", hidden=[4]), 64, 2)
    with pytest.raises(ModelInputError, match=r"^MLP expected input \[batch, 64\] float, got "):
        model(torch.zeros(32, 63, dtype=torch.int64))
    with pytest.raises(ModelInputError) as info:
        model(torch.zeros(32, 63, dtype=torch.int64))
    assert "got [32, 63] torch.int64" in str(info.value)


def test_expect_shape() -> None:
    x = torch.zeros(3, 5, 2)
    expect_shape(x, ("batch", 5, 2), what="layer expected")
    expect_shape(x, (3, "length", "channels"), what="layer expected", floating=True)
    with pytest.raises(ModelInputError, match=r"^layer expected \[batch, 4, 2\], got \[3, 5, 2\]"):
        expect_shape(x, ("batch", 4, 2), what="layer expected")
    with pytest.raises(
        ModelInputError, match=r"\[batch, 5, 2\] integer, got .* torch.float32; ids"
    ):
        expect_shape(x, ("batch", 5, 2), what="layer expected", floating=False, hint="ids")
    expect_shape(x.long(), ("batch", 5, 2), what="layer expected", floating=False)


def test_describe() -> None:
    assert describe(torch.zeros(2, 3, dtype=torch.float16)) == "[2, 3] torch.float16"


def test_token_ids_out_of_range_name_the_vocabulary() -> None:
    config = ModelConfig(kind="transformer", d_model=8, heads=2, layers=1)
    model = build_model(config, 5, 2, vocab_size=10)
    with pytest.raises(ModelInputError, match=r"token ids in \[0, 10\), got ids in \[0, 12\]"):
        model(torch.tensor([[1.0, 12.0, 0.0, 0.0, 0.0]]))
    with pytest.raises(ModelInputError, match=r"got ids in \[-1, 3\]"):
        model(torch.tensor([[-1.0, 3.0, 0.0, 0.0, 0.0]]))


def test_checks_are_skipped_while_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The exporter traces with an example of its own; a Python branch on traced shapes would
    # only add TracerWarnings, so the boundary checks stand aside (ONNX export tests run them).
    with pytest.raises(ModelInputError):
        expect_shape(torch.zeros(3), ("batch", 5), what="layer expected")
    monkeypatch.setattr(torch.jit, "is_tracing", lambda: True)
    expect_shape(torch.zeros(3), ("batch", 5), what="layer expected")
