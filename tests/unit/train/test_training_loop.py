"""Unit tests for the training loop: batching, training, checkpoints, resume and schedule."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.errors import TrainingError
from trainpipe.storage.factory import open_store
from trainpipe.train.artifacts import load_model
from trainpipe.train.checkpoint import list_checkpoints
from trainpipe.train.data import global_batches, steps_per_epoch
from trainpipe.train.distributed import DistContext
from trainpipe.train.faults import (
    INJECT_NAN_ENV,
    INJECT_OOM_ENV,
    INJECT_OOM_PHASE_ENV,
    INJECT_PREEMPT_ENV,
)
from trainpipe.train.guards import Preempted
from trainpipe.train.loop import Trainer, fit, run_training
from trainpipe.train.membership import membership_history
from trainpipe.train.model_files import MODEL_FILES
from trainpipe.train.optim import learning_rate_at
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "seed": 3,
    "data": {"source": "builtin:iris"},
    "split": {"validation": 0.15, "test": 0.15},
    "model": {"hidden": [16], "dropout": 0.1},
    "train": {
        "epochs": 4,
        "batch_size": 16,
        "learning_rate": 0.02,
        "warmup_epochs": 1,
        "nproc_per_node": 1,
        "backend": "inprocess",
        "num_threads": 1,
        "keep_checkpoints": 2,
    },
}


def make_config(**train: Any) -> RunConfig:
    data = json.loads(json.dumps(BASE))
    data["train"].update(train)
    return RunConfig.from_dict(data)


@pytest.fixture
def splits(iris_splits: dict[str, str]) -> dict[str, str]:
    """builtin:iris ingested and split once per session (tests/conftest.py)."""
    return iris_splits


def make_spec(
    config: RunConfig, splits: dict[str, str], output: Path, checkpoints: str = ""
) -> TrainSpec:
    return TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(output),
        checkpoints=checkpoints,
    )


# --- global_batches --------------------------------------------------------------------------


def batches(n: int, batch_size: int, *, seed: int, epoch: int, world: int) -> list[list[Any]]:
    """Per step, the list of every rank's shard (index lists) and the global size."""
    per_rank = [
        list(global_batches(n, batch_size, seed=seed, epoch=epoch, rank=r, world_size=world))
        for r in range(world)
    ]
    steps = {len(p) for p in per_rank}
    assert len(steps) == 1, "every rank must take the same number of steps"
    return [[shards[step] for shards in per_rank] for step in range(steps.pop())]


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize(("n", "batch_size"), [(50, 12), (48, 12), (7, 6)])
def test_shards_union_is_the_single_process_batch(world: int, n: int, batch_size: int) -> None:
    single = batches(n, batch_size, seed=5, epoch=2, world=1)
    sharded = batches(n, batch_size, seed=5, epoch=2, world=world)
    assert len(single) == len(sharded) == steps_per_epoch(n, batch_size)
    seen: list[int] = []
    for (whole,), shards in zip(single, sharded, strict=True):
        ids = [i for shard in shards for i in shard.indices.tolist()]
        assert len(ids) == len(set(ids)), "shards overlap"
        assert ids == whole.indices.tolist(), "contiguous shards in rank order make up the batch"
        assert all(shard.global_size == len(whole.indices) for shard in shards)
        sizes = [len(shard.indices) for shard in shards]
        assert max(sizes) - min(sizes) <= 1
        seen += ids
    assert sorted(seen) == list(range(n)), "every sample once per epoch"


def test_batch_order_is_deterministic_per_seed_and_epoch() -> None:
    def order(seed: int, epoch: int) -> list[int]:
        shards = global_batches(40, 8, seed=seed, epoch=epoch, rank=0, world_size=1)
        return [i for shard in shards for i in shard.indices.tolist()]

    assert order(1, 0) == order(1, 0)
    assert order(1, 3) == order(1, 3)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)
    assert order(1, 0) != list(range(40))


def test_steps_per_epoch() -> None:
    assert steps_per_epoch(100, 10) == 10
    assert steps_per_epoch(101, 10) == 11
    assert steps_per_epoch(1, 64) == 1


# --- learning-rate schedule ------------------------------------------------------------------


def test_learning_rate_warmup_then_cosine() -> None:
    config = make_config(learning_rate=0.1, warmup_epochs=2)
    per_epoch, total = 10, 100
    rates = [learning_rate_at(config, step, total, per_epoch) for step in range(total)]
    # linear warmup over 2 epochs = 20 steps, reaching the peak on its last step
    assert rates[0] == pytest.approx(0.1 / 20)
    assert rates[9] == pytest.approx(0.1 * 10 / 20)
    assert rates[19] == pytest.approx(0.1)
    assert all(a < b for a, b in itertools.pairwise(rates[:20]))
    # cosine from the peak down towards 10% of it
    assert rates[20] == pytest.approx(0.1)
    assert rates[60] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5))  # half way through the decay
    assert all(a >= b for a, b in itertools.pairwise(rates[20:]))
    assert rates[-1] == pytest.approx(0.01, rel=0.01)
    assert learning_rate_at(config, total, total, per_epoch) == pytest.approx(0.01)
    assert learning_rate_at(config, total + 50, total, per_epoch) == pytest.approx(0.01)


def test_learning_rate_without_warmup_starts_at_peak() -> None:
    config = make_config(learning_rate=0.5, warmup_epochs=0)
    assert learning_rate_at(config, 0, 40, 4) == pytest.approx(0.5)
    assert learning_rate_at(config, 20, 40, 4) == pytest.approx(0.5 * 0.55)


# --- training in-process ---------------------------------------------------------------------


def test_run_training_writes_a_usable_model(splits: dict[str, str], tmp_path: Path) -> None:
    config = make_config(epochs=8, keep_checkpoints=2)
    output = tmp_path / "model"
    logs: list[str] = []
    run_training(make_spec(config, splits, output), DistContext(), log=logs.append)

    for key in MODEL_FILES:
        assert (output / key).is_file(), key
    description = json.loads((output / "model.json").read_text())
    assert description["n_features"] == 4
    assert description["n_outputs"] == 3
    assert json.loads((output / "labels.json").read_text()) == {"0": "0", "1": "1", "2": "2"}
    metrics = json.loads((output / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["history"]] == [float(e) for e in range(1, 9)]
    assert metrics["final"] == metrics["history"][-1]
    assert metrics["world_size"] == 1
    assert metrics["device"] == "cpu"  # the device type the ranks trained on
    assert metrics["resumed_from_epoch"] is None
    assert sum("[trainpipe] epoch" in line for line in logs) == 8
    assert logs[-1] == f"[trainpipe] wrote model to {output}"

    model = load_model(str(output))
    frame, schema = read_dataset(splits["train"])
    y_true = frame[schema.label].astype(str).map({c: i for i, c in enumerate(model.classes)})
    accuracy = float(np.mean(model.predict(frame) == y_true.to_numpy()))
    assert accuracy > 0.8
    proba = model.predict_proba(frame)
    assert proba.shape == (len(frame), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)

    per_epoch = steps_in_epoch(config, splits)
    store = open_store(str(output / "checkpoints"))
    assert list_checkpoints(store) == [7 * per_epoch, 8 * per_epoch]
    assert store.list() == [f"step-{7 * per_epoch:09d}.pt", f"step-{8 * per_epoch:09d}.pt"]


def test_keep_checkpoints_one(splits: dict[str, str], tmp_path: Path) -> None:
    config = make_config(epochs=3, keep_checkpoints=1)
    ckpt = tmp_path / "ckpt"
    fit(make_spec(config, splits, tmp_path / "out", checkpoints=str(ckpt)), DistContext())
    assert sorted(p.name for p in ckpt.iterdir()) == [
        f"step-{3 * steps_in_epoch(config, splits):09d}.pt"
    ]


def test_fit_without_checkpoints_writes_nothing(splits: dict[str, str], tmp_path: Path) -> None:
    result = fit(
        make_spec(make_config(epochs=1), splits, tmp_path / "out"), DistContext(), checkpoint=False
    )
    assert len(result.history) == 1
    assert set(result.history[0]) == {
        "epoch",
        "train_loss",
        "learning_rate",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "seconds",
        "samples_per_second",
        "data_wait_seconds",
    }
    assert not (tmp_path / "out").exists()


def test_training_is_reproducible(splits: dict[str, str], tmp_path: Path) -> None:
    config = make_config(epochs=2)
    first = fit(make_spec(config, splits, tmp_path / "a"), DistContext(), checkpoint=False)
    second = fit(make_spec(config, splits, tmp_path / "b"), DistContext(), checkpoint=False)
    for key, value in first.model.state_dict().items():
        torch.testing.assert_close(value, second.model.state_dict()[key], rtol=0, atol=0)
    assert [r["train_loss"] for r in first.history] == [r["train_loss"] for r in second.history]


class Interrupt(Exception):
    pass


def steps_in_epoch(config: RunConfig, splits: dict[str, str]) -> int:
    rows = len(read_dataset(splits["train"])[0])
    return steps_per_epoch(rows, config.train.batch_size)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=1e-6, rtol=0)


def test_resume_after_interruption_matches_uninterrupted(
    splits: dict[str, str], tmp_path: Path
) -> None:
    config = make_config(epochs=4, keep_checkpoints=2)
    uninterrupted = fit(make_spec(config, splits, tmp_path / "full"), DistContext())

    spec = make_spec(config, splits, tmp_path / "resumed")

    def crash_after_second_epoch(epoch: int, row: dict[str, float]) -> None:
        if epoch == 1:
            raise Interrupt  # the checkpoint of epoch index 1 is already written

    with pytest.raises(Interrupt):
        fit(spec, DistContext(), on_epoch=crash_after_second_epoch)
    per_epoch = steps_in_epoch(config, splits)
    assert list_checkpoints(open_store(spec.checkpoint_location)) == [per_epoch, 2 * per_epoch]

    epochs_run: list[int] = []
    resumed = fit(spec, DistContext(), on_epoch=lambda epoch, row: epochs_run.append(epoch))
    assert resumed.resumed_from_epoch == 2
    assert epochs_run == [2, 3]
    assert len(resumed.history) == 4
    assert_same_weights(resumed.model, uninterrupted.model)
    for a, b in zip(resumed.history, uninterrupted.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)


def test_extending_a_finished_run_resumes_from_its_checkpoints(
    splits: dict[str, str], tmp_path: Path
) -> None:
    ckpt = str(tmp_path / "ckpt")
    short = make_spec(make_config(epochs=2), splits, tmp_path / "a", checkpoints=ckpt)
    fit(short, DistContext())
    longer = make_spec(make_config(epochs=4), splits, tmp_path / "b", checkpoints=ckpt)
    result = fit(longer, DistContext())
    assert result.resumed_from_epoch == 2
    assert [row["epoch"] for row in result.history] == [1.0, 2.0, 3.0, 4.0]
    per_epoch = steps_in_epoch(longer.config, splits)
    assert list_checkpoints(open_store(ckpt)) == [3 * per_epoch, 4 * per_epoch]
    # A finished run resumes to nothing and returns the stored history.
    again = fit(longer, DistContext())
    assert again.resumed_from_epoch == 4
    assert again.history == result.history
    assert_same_weights(again.model, result.model)


def test_run_training_records_the_resume(splits: dict[str, str], tmp_path: Path) -> None:
    config = make_config(epochs=2)
    spec = make_spec(config, splits, tmp_path / "out")
    with pytest.raises(Interrupt):
        fit(spec, DistContext(), on_epoch=lambda epoch, row: (_ for _ in ()).throw(Interrupt()))
    run_training(spec, DistContext(), log=lambda line: None)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == 1
    assert len(metrics["history"]) == 2


def test_the_preemption_drill_stops_at_its_step_and_the_resume_matches(
    splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(epochs=3)
    uninterrupted = fit(make_spec(config, splits, tmp_path / "full"), DistContext())
    spec = make_spec(config, splits, tmp_path / "preempted")
    stop_at = steps_in_epoch(config, splits) + 3  # within the second epoch
    monkeypatch.setenv(INJECT_PREEMPT_ENV, str(stop_at))
    with pytest.raises(Preempted, match=f"global step {stop_at} as the preemption drill asked"):
        fit(spec, DistContext())
    assert list_checkpoints(open_store(spec.checkpoint_location))[-1] == stop_at
    monkeypatch.delenv(INJECT_PREEMPT_ENV)
    resumed = fit(spec, DistContext())
    assert resumed.resumed_from_step == stop_at
    assert_same_weights(resumed.model, uninterrupted.model)
    # One process, one group: the membership was recorded once, at the first start.
    (member,) = membership_history(resumed.events)
    assert (member.global_step, member.nodes, member.world_size) == (0, 1, 1)


@pytest.mark.parametrize("phase", ["backward", "optimizer"])
def test_out_of_memory_in_backward_or_the_optimizer_step_is_survived(
    phase: str, splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(checkpoint_every_steps=3)
    straight = fit(make_spec(config, splits, tmp_path / "straight"), DistContext())
    monkeypatch.setenv(INJECT_OOM_ENV, "5")
    monkeypatch.setenv(INJECT_OOM_PHASE_ENV, phase)
    lines: list[str] = []
    drilled = fit(make_spec(config, splits, tmp_path / phase), DistContext(), log=lines.append)
    (event,) = [e for e in drilled.events if e["type"] == "out_of_memory"]
    assert event["global_step"] == 5
    if phase == "backward":  # the same step again, in two micro-batches
        assert event["action"] == "micro_batch_halved" and event["micro_batches"] == 2
        assert any("retrying with 2 micro-batches" in line for line in lines)
    else:  # back to the checkpoint of step 3, the optimizer one parameter at a time
        assert event["action"] == "optimizer_per_parameter" and event["resumed_at_step"] == 3
        assert any("back to step 3, updating one parameter at a time" in line for line in lines)
    assert len(drilled.history) == len(straight.history)
    assert_same_weights(drilled.model, straight.model)


def test_guards_deciding_every_4_steps_train_what_every_step_does(
    splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the decision deferred, a NaN step is skipped on the device by the fused AdamW and
    the rollback comes at the next decision (a checkpoint decides first, so it never holds an
    unchecked step): the run ends with the weights, history and events of deciding every step,
    with a fraction of the decisions (host-device syncs on a GPU)."""
    monkeypatch.setenv(INJECT_NAN_ENV, "9")
    decisions: list[int] = []
    decide = Trainer._decide

    def counted(trainer: Trainer) -> bool:
        decisions.append(len(trainer.pending))
        return decide(trainer)

    monkeypatch.setattr(Trainer, "_decide", counted)
    runs = {}
    for every in (1, 4):
        decisions.clear()
        config = make_config(checkpoint_every_steps=5, guard_every_steps=every)
        spec = make_spec(config, splits, tmp_path / str(every))
        runs[every] = (fit(spec, DistContext(), log=lambda line: None), list(decisions))
    (once, once_decisions), (deferred, deferred_decisions) = runs[1], runs[4]
    assert [e["type"] for e in deferred.events] == [e["type"] for e in once.events]
    assert any(e["type"] == "non_finite" for e in deferred.events)
    assert [e.get("global_step") for e in deferred.events] == [
        e.get("global_step") for e in once.events
    ]
    timing = {"seconds", "samples_per_second", "data_wait_seconds"}
    for mine, theirs in zip(deferred.history, once.history, strict=True):
        assert {k: v for k, v in mine.items() if k not in timing} == {
            k: v for k, v in theirs.items() if k not in timing
        }
    for name, tensor in once.model.state_dict().items():
        assert torch.equal(deferred.model.state_dict()[name], tensor), name
    assert set(once_decisions) == {1}
    assert max(deferred_decisions) == 4
    assert len(deferred_decisions) < len(once_decisions) / 2


def test_out_of_memory_in_the_optimizer_step_without_a_checkpoint_fails(
    splits: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INJECT_OOM_ENV, "2")
    monkeypatch.setenv(INJECT_OOM_PHASE_ENV, "optimizer")
    spec = make_spec(make_config(), splits, tmp_path / "out")
    with pytest.raises(TrainingError, match="no checkpoint to go back to"):
        fit(spec, DistContext(), checkpoint=False)


def test_divergence_raises_training_error(splits: dict[str, str], tmp_path: Path) -> None:
    config = make_config(
        epochs=2, learning_rate=1e6, grad_clip=0.0, optimizer="sgd", warmup_epochs=0
    )
    with pytest.raises(TrainingError) as info:
        fit(make_spec(config, splits, tmp_path / "out"), DistContext(), checkpoint=False)
    message = str(info.value)
    assert "non-finite" in message
    assert "train.learning_rate" in message


def test_regression_training(tmp_path: Path) -> None:
    data = json.loads(json.dumps(BASE))
    data["task"] = "regression"
    data["data"] = {"source": "builtin:diabetes"}
    data["train"]["epochs"] = 2
    config = RunConfig.from_dict(data)
    ingest(config, str(tmp_path / "ds"))
    parts = [str(tmp_path / p) for p in ("tr", "va", "te")]
    split_dataset(config, str(tmp_path / "ds"), *parts)
    spec = TrainSpec(
        config=config, train_data=parts[0], validation_data=parts[1], output=str(tmp_path / "model")
    )
    run_training(spec, DistContext(), log=lambda line: None)
    model = load_model(str(tmp_path / "model"))
    frame, _ = read_dataset(parts[2])
    predictions = model.predict(frame)
    assert predictions.shape == (len(frame),)
    assert np.isfinite(predictions).all()
    assert model.task == "regression"
    assert model.classes == []
    history = json.loads((tmp_path / "model" / "metrics.json").read_text())["history"]
    assert "train_accuracy" not in history[0]
    assert np.isfinite(history[-1]["val_loss"])


def test_channels_last_trains_the_cnn_as_the_default_layout_does(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    from trainpipe.config import load_config

    digits = Path(__file__).resolve().parents[3] / "pipelines" / "configs" / "digits.yaml"
    runs = {}
    for layout in (False, True):
        config = load_config(
            digits,
            ["train.epochs=1", "train.backend=inprocess", "train.num_threads=1",
             "train.sanity_checks=false", "evaluate.require_beat_baseline=false",
             "train.weight_decay=0",  # the tolerance below was measured without decay
             f"train.channels_last={str(layout).lower()}"],
        )  # fmt: skip
        runs[layout] = fit(make_spec(config, digits_splits, tmp_path / str(layout)), DistContext())
    convs = [m for m in runs[True].model.modules() if isinstance(m, torch.nn.Conv2d)]
    conv = next(m.weight for m in convs if m.in_channels > 1)  # 1 channel: either layout
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    # the NHWC kernel sums in another order: rounding, grown over an epoch of Adam steps
    for name, tensor in runs[False].model.state_dict().items():
        torch.testing.assert_close(runs[True].model.state_dict()[name], tensor, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_a_compiled_model_trains_as_the_eager_one_does(
    splits: dict[str, str], tmp_path: Path
) -> None:
    """``train.compile``: Inductor's fused kernels round differently, nothing else changes;
    the checkpoint and the model keep the module's own parameter names."""
    runs = {}
    for compile in (False, True):
        config = make_config(epochs=1, compile=compile)
        config = config.with_overrides({"model.dropout": 0.0})  # Inductor draws its own masks
        runs[compile] = fit(make_spec(config, splits, tmp_path / str(compile)), DistContext())
    eager, compiled = runs[False], runs[True]
    assert list(compiled.model.state_dict()) == list(eager.model.state_dict())
    for name, tensor in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[name], tensor, rtol=0, atol=1e-5)
    assert compiled.history[-1]["train_loss"] == pytest.approx(
        eager.history[-1]["train_loss"], abs=1e-5
    )
