"""Unit tests for the fault drills: parsed once from the environment, bad values rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError
from trainpipe.train.distributed import DistContext
from trainpipe.train.faults import (
    DEFAULT_STALL_SECONDS,
    INJECT_DIVERGENCE_ENV,
    INJECT_NAN_ENV,
    INJECT_OOM_ENV,
    INJECT_PREEMPT_ENV,
    INJECT_STALL_ENV,
    INJECT_STALL_SECONDS_ENV,
    Faults,
)
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def test_nothing_armed_without_variables() -> None:
    faults = Faults.from_env({"PATH": "/bin"})
    assert faults == Faults()
    assert faults.stall_seconds == DEFAULT_STALL_SECONDS
    assert not any(faults.nan_fires(step) for step in range(100))
    assert not any(faults.oom_fires(step) for step in range(100))
    assert not any(faults.stall_fires(step) for step in range(100))
    assert not any(faults.diverging(step) for step in range(100))


def test_every_variable_is_read() -> None:
    faults = Faults.from_env(
        {
            INJECT_NAN_ENV: "7",
            INJECT_OOM_ENV: " 3 ",
            INJECT_DIVERGENCE_ENV: "0",
            INJECT_STALL_ENV: "12",
            INJECT_STALL_SECONDS_ENV: "1.5",
            INJECT_PREEMPT_ENV: "40",
        }
    )
    assert faults == Faults(
        nan_at=7, oom_at=3, divergence_at=0, stall_at=12, stall_seconds=1.5, preempt_at=40
    )


def test_an_empty_value_counts_as_unset() -> None:
    assert Faults.from_env({INJECT_NAN_ENV: "", INJECT_STALL_SECONDS_ENV: " "}) == Faults()


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INJECT_OOM_ENV, "25")
    assert Faults.from_env().oom_at == 25


@pytest.mark.parametrize("value", ["soon", "-1", "2.5", "1e3"])
@pytest.mark.parametrize(
    "name",
    [INJECT_NAN_ENV, INJECT_OOM_ENV, INJECT_DIVERGENCE_ENV, INJECT_STALL_ENV, INJECT_PREEMPT_ENV],
)
def test_a_step_that_is_no_global_step_is_rejected(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Faults.from_env({name: value})
    message = str(info.value)
    assert f"{name}={value!r}" in message
    assert "whole number >= 0" in message
    assert "unset it" in message


@pytest.mark.parametrize("value", ["long", "-0.5", "inf", "nan"])
def test_bad_stall_seconds_are_rejected(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Faults.from_env({INJECT_STALL_ENV: "3", INJECT_STALL_SECONDS_ENV: value})
    assert f"{INJECT_STALL_SECONDS_ENV}={value!r}" in str(info.value)
    assert "number of seconds" in str(info.value)


def test_one_shot_drills_fire_once_at_their_step() -> None:
    faults = Faults(nan_at=4, oom_at=2, stall_at=6, preempt_at=8)
    assert [s for s in range(10) if faults.preempts(s)] == [8]
    assert [s for s in range(10) if faults.nan_fires(s)] == [4]
    assert [s for s in range(10) if faults.oom_fires(s)] == [2]
    assert [s for s in range(10) if faults.stall_fires(s)] == [6]
    # the retry of the same step (after a rollback or a back-off) runs clean
    assert not faults.nan_fires(4)
    assert not faults.oom_fires(2)
    assert not faults.stall_fires(6)


def test_divergence_lasts_from_its_step_on() -> None:
    faults = Faults(divergence_at=5)
    assert [faults.diverging(s) for s in range(8)] == [False] * 5 + [True] * 3
    assert faults.diverging(5), "asking again does not disarm it"


def test_fit_checks_the_drills_before_it_trains_or_writes(
    iris_splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INJECT_NAN_ENV, "soon")
    config = RunConfig.from_dict(
        {"data": {"source": "builtin:iris"}, "train": {"epochs": 1, "backend": "inprocess"}}
    )
    spec = TrainSpec(
        config=config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "out"),
    )
    logs: list[str] = []
    with pytest.raises(ConfigError, match=INJECT_NAN_ENV):
        fit(spec, DistContext(), log=logs.append)
    assert logs == []
    assert not (tmp_path / "out").exists(), "no checkpoint was written"
