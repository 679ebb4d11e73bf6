"""The transformer's settings in the run config, and the time-series sets it trains on."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainpipe.config import RunConfig, load_config
from trainpipe.data.sources import BUILTIN_DATASETS, read_source
from trainpipe.errors import ConfigError
from trainpipe.models import SequenceTransformer, build_model

pytestmark = pytest.mark.unit

GUNPOINT = Path(__file__).resolve().parents[3] / "pipelines" / "configs" / "gunpoint.yaml"


def config(**model: object) -> RunConfig:
    return RunConfig.from_dict({"data": {"source": "builtin:gunpoint"}, "model": model})


def test_transformer_settings_load_and_build() -> None:
    run = config(
        kind="transformer", d_model=24, heads=3, layers=3, sequence_channels=2, causal=True
    )
    assert (run.model.d_model, run.model.heads, run.model.layers) == (24, 3, 3)
    model = build_model(run.model, 20, 2)
    assert isinstance(model, SequenceTransformer)
    assert (model.channels, model.tokens, len(model.blocks)) == (2, 10, 3)
    assert model.blocks[0].attention.causal


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"kind": "transformer", "d_model": 12, "heads": 4},
            "model.d_model must be a multiple of 2 x",
        ),
        ({"kind": "transformer", "d_model": 9, "heads": 1}, "multiple of 2 x model.heads (2)"),
        ({"kind": "transformer", "heads": 0}, "model.heads must be >= 1, got 0"),
        ({"kind": "transformer", "layers": 0}, "model.layers must be >= 1, got 0"),
        ({"kind": "transformer", "d_model": 0}, "model.d_model must be >= 1, got 0"),
        ({"sequence_channels": 0}, "model.sequence_channels must be >= 1, got 0"),
        ({"patch_size": 0}, "model.patch_size must be >= 1, got 0"),
        ({"kind": "rnn"}, "model.kind"),
        ({"vocab_size": 100}, "vocab_size"),
    ],
)
def test_bad_transformer_settings_are_named(model: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(**model)
    assert message in str(info.value)


def test_an_odd_head_width_is_fine_for_other_models() -> None:
    assert config(kind="mlp", d_model=12, heads=4).model.kind == "mlp"


def test_the_gunpoint_config() -> None:
    run = load_config(GUNPOINT)
    assert run.data.source == "builtin:gunpoint"
    assert run.model.kind == "transformer"
    assert 150 % (run.model.sequence_channels * run.model.patch_size) == 0
    assert isinstance(build_model(run.model, 150, 2), SequenceTransformer)


def test_builtin_time_series_sets() -> None:
    assert {"gunpoint", "basic_motions"} <= set(BUILTIN_DATASETS)
    gunpoint = read_source("builtin:gunpoint")
    assert gunpoint.shape == (200, 151)
    assert list(gunpoint.columns[:2]) == ["t000", "t001"]
    assert gunpoint.columns[-1] == "target"
    assert gunpoint["target"].value_counts().to_dict() == {1: 100, 2: 100}
    motions = read_source("builtin:basic_motions")
    assert motions.shape == (80, 6 * 100 + 1)
    # channel-major, the layout model.sequence_channels reads
    assert list(motions.columns[99:102]) == ["c0_t099", "c1_t000", "c1_t001"]
    assert sorted(motions["target"].unique()) == ["Badminton", "Running", "Standing", "Walking"]
