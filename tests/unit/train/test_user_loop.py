"""``train.entrypoint``: a user's loop trains through the same entrypoint as the built-in one,
resumes bit-identically from the context's checkpoints, stops retryably on SIGTERM, is tuned
with pruning, and every mistake in it is caught by a dry run before any job starts."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from trainpipe.config import RunConfig
from trainpipe.errors import ConfigError, UserCodeError
from trainpipe.launch.train_job import train_model
from trainpipe.train.artifacts import load_model
from trainpipe.train.distributed import DistContext
from trainpipe.train.guards import Preempted
from trainpipe.train.loop import fit
from trainpipe.train.spec import TrainSpec
from trainpipe.train.user_code import check_user_code
from trainpipe.tune.study import open_storage
from trainpipe.tune.worker import run_worker

pytestmark = pytest.mark.unit

USER_CODE = Path(__file__).resolve().parents[2] / "user_code"
LOOP = "digits_net.loop"


@pytest.fixture(autouse=True)
def user_code_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(USER_CODE))


def make_config(entrypoint: str = f"{LOOP}:train", **train: Any) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"source": "builtin:iris"},
            "model": {"kind": "mlp", "hidden": [16], "dropout": 0.2},
            "train": {
                "entrypoint": entrypoint,
                "epochs": 4,
                "batch_size": 16,
                "learning_rate": 0.01,
                "backend": "inprocess",
                "num_threads": 1,
                **train,
            },
            "tune": {"max_trials": 0},
        }
    )


def spec(config: RunConfig, splits: dict[str, str], tmp_path: Path, name: str) -> TrainSpec:
    return TrainSpec(
        config=config,
        train_data=splits["train"],
        validation_data=splits["validation"],
        output=str(tmp_path / name / "model"),
        checkpoints=str(tmp_path / name / "checkpoints"),
    )


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


@pytest.fixture(scope="module")
def reference(iris_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One uninterrupted run of the user's loop that every recovery is compared with."""
    tmp = tmp_path_factory.mktemp("reference")
    result = fit(spec(make_config(), iris_splits, tmp, "ref"), DistContext(), log=lambda s: None)
    return {"weights": weights(result.model), "history": result.history}


def test_the_job_trains_the_users_loop_and_writes_a_model_that_loads(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    lines: list[str] = []
    train_model(
        make_config(),
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "model"),
        log=lines.append,
    )
    preflight = next(line for line in lines if "preflight ok" in line)
    assert f"train.entrypoint {LOOP}:train ran one batch and saved a MLP" in preflight
    assert "reporting train_loss, val_accuracy, val_loss" in preflight
    # The lines Katib's StdOut collector reads, from the user's reports.
    assert sum(" [trainpipe] epoch " in line and "val_loss=" in line for line in lines) == 4
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["history"]] == [1.0, 2.0, 3.0, 4.0]
    assert metrics["history"][-1]["val_loss"] < metrics["history"][0]["val_loss"]
    loaded = load_model(str(tmp_path / "model"))
    assert loaded.predict_tensor(torch.zeros(2, 4)).shape == (2, 3)


def test_a_crash_mid_epoch_resumes_bit_identically(
    iris_splits: dict[str, str], tmp_path: Path, reference: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digits_net.loop as loop

    config = make_config(f"{LOOP}:crashes_mid_epoch", checkpoint_every_steps=3)
    run = spec(config, iris_splits, tmp_path, "crash")
    monkeypatch.setattr(loop, "CRASH_AT", [10])  # epoch 2 (7 steps an epoch), after step 9's save
    with pytest.raises(Exception, match="crash drill at global step 10"):
        fit(run, DistContext(), log=lambda s: None)
    lines: list[str] = []
    result = fit(run, DistContext(), log=lines.append)
    assert result.resumed_from_step == 9 and result.resumed_from_epoch == 1
    assert "[trainpipe] resumed from checkpoint at epoch 2 step 9" in lines
    assert_bit_identical(weights(result.model), reference["weights"])
    assert result.history == reference["history"]


def test_sigterm_checkpoints_at_the_next_report_and_the_rerun_is_bit_identical(
    iris_splits: dict[str, str], tmp_path: Path, reference: dict
) -> None:
    run = spec(make_config(), iris_splits, tmp_path, "preempted")

    def preempt(epoch: int, row: dict[str, float]) -> None:
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # caught: training goes on to the next report

    with pytest.raises(Preempted, match="after epoch 2 after SIGTERM \\(checkpoint written\\)"):
        fit(run, DistContext(), on_epoch=preempt, log=lambda s: None)
    result = fit(run, DistContext(), log=lambda s: None)
    assert result.resumed_from_epoch == 2
    assert_bit_identical(weights(result.model), reference["weights"])


def test_trials_run_the_users_loop_and_its_reports_drive_pruning(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    storage = f"journal://{tmp_path / 'journal.log'}"
    config = RunConfig.from_dict(
        {
            **make_config().to_dict(),
            "tune": {
                "max_trials": 2,
                "epochs": 2,
                "sampler": "random",
                "storage": storage,
                "metric": "val_loss",
                "search_space": {
                    "train.learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2}
                },
            },
        }
    )
    lines: list[str] = []
    run_worker(
        config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        storage=storage,
        study_name="s",
        log=lines.append,
    )
    assert any("user code ok: train.entrypoint" in line for line in lines)
    study = optuna.load_study(study_name="s", storage=open_storage(storage))
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    for trial in trials:  # one report per epoch, the value the pruner compares
        assert sorted(trial.intermediate_values) == [0, 1]
        assert trial.value == trial.intermediate_values[1]


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        (
            "digits_net.nowhere:train",
            r"train.entrypoint .*no module named 'digits_net.nowhere'; searched",
        ),
        (f"{LOOP}:trian", r"module 'digits_net.loop' \(.*loop.py\) has no attribute 'trian'"),
        (f"{LOOP}:not_a_function", r"is a int, not a function"),
        (
            f"{LOOP}:forgets_to_save",
            r"returned without calling ctx.save_model\(model\)",
        ),
        (
            f"{LOOP}:raises",
            r"raised RuntimeError: .* at .*loop.py:\d+ in raises: model\(x.reshape",
        ),
        (f"{LOOP}:saves_another_model", r"saved a Linear whose weights do not fit"),
        (
            f"{LOOP}:checkpoints_the_model_object",
            r"state\['model'\] is a MLP; a checkpoint holds tensors",
        ),
    ],
)
def test_a_broken_entrypoint_stops_before_any_job_with_its_name(
    iris_splits: dict[str, str], tmp_path: Path, entrypoint: str, message: str
) -> None:
    out = tmp_path / "model"
    with pytest.raises(UserCodeError, match=message) as caught:
        train_model(
            make_config(entrypoint),
            train_data=iris_splits["train"],
            validation_data=iris_splits["validation"],
            output=str(out),
            log=lambda s: None,
        )
    assert entrypoint in str(caught.value) or "ctx.save_checkpoint" in str(caught.value)
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_tuning_refuses_a_loop_that_does_not_report_its_metric(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    config = make_config(f"{LOOP}:reports_nothing")
    run = spec(config, iris_splits, tmp_path, "tune")
    with pytest.raises(UserCodeError, match="does not report val_loss, which tuning optimizes"):
        check_user_code(run, metrics=["val_loss"])


def test_the_config_checks_the_reference_and_refuses_smote() -> None:
    with pytest.raises(ConfigError, match=r"train\.entrypoint"):
        make_config("not a reference")
    with pytest.raises(ConfigError, match="SMOTE rows are made by the built-in loop"):
        make_config(imbalance="smote")


def test_the_loader_draws_the_built_in_loops_batches_per_rank(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    """Each rank's batches are its shard of the built-in loop's (seed, epoch) global batches,
    augmented from the step's seed; and torch is seeded from (seed, global step, rank)."""
    from trainpipe.monitor.training import TrainingMonitor
    from trainpipe.train.context import TrainContext
    from trainpipe.train.data import global_batches
    from trainpipe.train.faults import Faults
    from trainpipe.train.guards import StopFlag
    from trainpipe.train.seeding import step_seed
    from trainpipe.train.training_data import load_training_data

    config = make_config(augment=["noise"])
    run = spec(config, iris_splits, tmp_path, "loader")
    data = load_training_data(run, device="cpu")
    for rank in (0, 1):
        ctx = TrainContext(
            config,
            DistContext(rank=rank, world_size=2),
            data,
            store=None,
            monitor=TrainingMonitor.quiet(config),
            stop=StopFlag(),
            faults=Faults(),
        )
        for epoch in (0, 1):
            shards = list(
                global_batches(
                    len(data.train), 16, seed=config.seed, epoch=epoch, rank=rank, world_size=2
                )
            )
            batches = list(ctx.train_loader(epoch))
            assert len(batches) == len(shards) == ctx.per_epoch
            for step, ((x, y), shard) in enumerate(zip(batches, shards, strict=True)):
                seed = step_seed(config, epoch * ctx.per_epoch + step, rank)
                expected = data.augment(
                    data.train.x[shard.indices], torch.Generator().manual_seed(seed)
                )
                assert torch.equal(x, expected) and torch.equal(y, data.train.y[shard.indices])
                assert not torch.equal(x, data.train.x[shard.indices])  # noise was applied
            # Nothing drew from torch's generator since the last batch was seeded (dropout would).
            last_seed = step_seed(config, (epoch + 1) * ctx.per_epoch - 1, rank)
            expected_draw = torch.rand(1, generator=torch.Generator().manual_seed(last_seed))
            assert torch.equal(torch.rand(1), expected_draw)


def test_the_pruners_stop_reaches_optuna_through_the_users_code(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    def prune(epoch: int, row: dict[str, float]) -> None:
        raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")

    run = spec(make_config(f"{LOOP}:swallows_errors"), iris_splits, tmp_path, "pruned")
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 1"):
        fit(run, DistContext(), on_epoch=prune, checkpoint=False, log=lambda s: None)
