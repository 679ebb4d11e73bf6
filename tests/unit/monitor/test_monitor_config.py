"""The monitoring keys of the run config: defaults and validation."""

from __future__ import annotations

from typing import Any

import pytest

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError

pytestmark = pytest.mark.unit


def build(train: dict[str, Any] | None = None, monitor: dict[str, Any] | None = None) -> RunConfig:
    data: dict[str, Any] = {"data": {"source": "builtin:iris"}}
    if train:
        data["train"] = train
    if monitor:
        data["monitor"] = monitor
    return RunConfig.from_dict(data)


def test_defaults_follow_the_contract() -> None:
    config = build()
    assert config.train.metrics_port == 9400
    assert config.train.pushgateway == "" and config.train.tensorboard is False
    assert config.monitor.stall_seconds > 0 and 0 < config.monitor.starvation_fraction < 1


@pytest.mark.parametrize(
    ("train", "monitor", "key"),
    [
        ({"metrics_port": -1}, None, "train.metrics_port"),
        ({"metrics_port": 70000}, None, "train.metrics_port"),
        ({"pushgateway": "gateway:9091"}, None, "train.pushgateway"),
        (None, {"divergence_factor": -1}, "monitor.divergence_factor"),
        (None, {"window_steps": 0}, "monitor.window_steps"),
        (None, {"starvation_fraction": 1.5}, "monitor.starvation_fraction"),
        (None, {"stall_fraction": -0.1}, "monitor.stall_fraction"),
        (None, {"plateau_patience": -2}, "monitor.plateau_patience"),
        (None, {"resource_interval_seconds": 0}, "monitor.resource_interval_seconds"),
    ],
)
def test_bad_values_name_the_key(
    train: dict[str, Any] | None, monitor: dict[str, Any] | None, key: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{key} must be"):
        build(train, monitor)


def test_zero_turns_things_off() -> None:
    config = build(
        {"metrics_port": 0, "pushgateway": "http://gw:9091"},
        {"stall_seconds": 0, "plateau_patience": 0, "starvation_fraction": 0},
    )
    assert config.train.metrics_port == 0 and config.monitor.stall_seconds == 0
