"""``trainpipe train --replay-membership MODEL``: the history comes from the model an elastic run
wrote, and what cannot be replayed is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainpipe.cli import _membership_replay
from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError
from trainpipe.launch.elastic import MembershipReplay
from trainpipe.train.membership import Membership, membership_event

pytestmark = pytest.mark.unit


def config(backend: str = "local") -> RunConfig:
    return RunConfig.from_dict({"data": {"source": "builtin:iris"}, "train": {"backend": backend}})


def write_metrics(model: Path, events: list[dict[str, object]]) -> None:
    model.mkdir(parents=True)
    (model / "metrics.json").write_text(json.dumps({"events": events}))


def test_the_history_is_read_from_the_model(tmp_path: Path) -> None:
    history = [Membership(0, 2, 2), Membership(40, 1, 1), Membership(51, 2, 2)]
    anomaly = {"type": "anomaly", "kind": "plateau"}
    write_metrics(tmp_path / "model", [anomaly, *(membership_event(m, epoch=0) for m in history)])
    backend = _membership_replay(config(), str(tmp_path / "model"))
    assert isinstance(backend, MembershipReplay)
    assert backend.history == history


def test_what_cannot_be_replayed_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"train\.backend is 'pytorchjob': pass --backend local"):
        _membership_replay(config("pytorchjob"), str(tmp_path))
    with pytest.raises(ConfigError, match=r"no metrics\.json there"):
        _membership_replay(config(), str(tmp_path / "nothing"))
    write_metrics(tmp_path / "fixed", [{"type": "anomaly", "kind": "plateau"}])
    with pytest.raises(ConfigError, match="records no membership events"):
        _membership_replay(config(), str(tmp_path / "fixed"))
