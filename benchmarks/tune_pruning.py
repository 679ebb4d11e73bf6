"""Benchmark: training epochs a tuner spends before some trial reaches a target validation accuracy.

The task is sized so that a first trial rarely suffices: scikit-learn's digits with a quarter of
the rows held out for validation (449 images), a one-hidden-layer MLP of 64 units trained for
``--epochs`` 27 epochs per trial on one thread, and a harsh search space (learning rate 1e-7 to
10 and weight decay 1e-6 to 10 on log scales, dropout 0 to 0.9, batch size 16 to 512, AdamW or
SGD) in which 10 of 300 random configurations ever reached 98% validation accuracy (441 of the
449 images), between their 8th and 25th epoch.

Four arms run on the same data, search space, seeds and budget (``--trials`` trials of
``--epochs`` epochs each), through the tuning worker the pipeline runs:

- ``random+none``: random search without pruning, the baseline;
- ``tpe+median``, ``tpe+hyperband``, ``tpe+asha``: TPE with each pruner as ``make_pruner``
  builds it from the config's defaults (``tune.pruner_min_epochs``, ``tune.reduction_factor``).

TPE's first 10 trials are random draws from the same seed as the baseline's, so until then the
arms differ only in what their pruner stopped.

An arm's epochs-to-target is what it spent, in trial order, until a trial first reached the
target: every earlier trial's epochs (pruned or not) plus the epochs of that trial up to the one
that reached it; an arm that never reaches it counts everything it spent and is marked ``*``.
The benchmark prints each seed's counts, how many seeds' very first trial reached the target on
its own, and per arm the median of the per-seed ratio to the baseline with its quartiles and
range, the ratio of the summed epochs, and the best final validation accuracy (the last epoch of
a trial that ran to the end) against the baseline's, averaged over the seeds.

    .venv/bin/python benchmarks/tune_pruning.py [--seeds 12] [--trials 100] [--target 0.98]
        [--epochs 27] [--workers 1] [--arms random+none,tpe+median,tpe+hyperband,tpe+asha]

(about 15 minutes here for the defaults, 8 with ``--workers 2``).

``--seeds``: studies per arm (seeds 0..N-1). ``--trials``: the trial budget of every study.
``--target``: the validation accuracy to reach. ``--epochs``: epochs per trial (``tune.epochs``).
``--workers``: tuning workers per study running at once, each a process on one thread sharing the
study's journal (``tune.parallel_trials``); with more than one, a run is no longer repeatable to
the epoch, and trials are still counted in the order the study created them. ``--arms``: which
arms run; the baseline always does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from trainpipe.config import RunConfig, load_config
from trainpipe.data.prepare import prepare_splits
from trainpipe.tune.study import EPOCHS, load_study
from trainpipe.tune.worker import run_worker

CONFIG = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "digits.yaml"
DATA_OVERRIDES = ["split.validation=0.25"]
SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-7, "high": 10.0, "log": True},
    "train.weight_decay": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.9},
    "train.batch_size": {"type": "categorical", "choices": [16, 32, 64, 128, 256, 512]},
    "train.optimizer": {"type": "categorical", "choices": ["adamw", "sgd"]},
}
BASELINE = "random+none"
ARMS = {
    BASELINE: ("random", "none"),
    "tpe+median": ("tpe", "median"),
    "tpe+hyperband": ("tpe", "hyperband"),
    "tpe+asha": ("tpe", "asha"),
}


def study_config(
    root: Path, *, seed: int, arm: str, trials: int, epochs: int, workers: int
) -> RunConfig:
    """The run config of one arm's study for one seed."""
    sampler, pruner = ARMS[arm]
    overrides = [*DATA_OVERRIDES, "train.nproc_per_node=1", "train.num_threads=1"]
    data = load_config(CONFIG, [*overrides, "train.warmup_epochs=0"]).to_dict()
    data["seed"] = seed
    data["model"] = {"kind": "mlp", "hidden": [64], "dropout": 0.1}
    data["tune"] |= {
        "max_trials": trials,
        "parallel_trials": workers,
        "epochs": epochs,
        "sampler": sampler,
        "pruner": pruner,
        "metric": "val_accuracy",
        "direction": "maximize",
        "max_failed_trials": trials,
        "storage": f"journal://{root / f'{arm}-{seed}.journal'}",
        "search_space": SPACE,
    }
    return RunConfig.from_dict(data)


def work(config: dict[str, Any], root: str, study_name: str, worker: int) -> None:
    """One tuning worker of a study (run in a process of its own when there are several)."""
    run_worker(
        RunConfig.from_dict(config),
        train_data=str(Path(root) / "train"),
        validation_data=str(Path(root) / "validation"),
        storage=config["tune"]["storage"],
        study_name=study_name,
        worker=worker,
        log=lambda line: None,
    )


@dataclass
class Outcome:
    """What one arm's study did for one seed."""

    epochs: int
    """Epochs spent until a trial first reached the target (all of them if none did)."""
    reached: bool
    first_trial: bool
    """The study's first trial reached the target on its own."""
    best_final: float
    """Best last-epoch validation accuracy of a trial that ran to the end."""
    seconds: float


def outcome(config: RunConfig, study_name: str, target: float, seconds: float) -> Outcome:
    """Read one finished study: its epochs to ``target``, in trial order, and its best trial."""
    study = load_study(
        config.tune, seed=config.seed, study_name=study_name, storage=config.tune.storage
    )
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    complete = optuna.trial.TrialState.COMPLETE
    finals = [t.value for t in trials if t.state == complete and t.value is not None]
    best_final = max(finals, default=float("nan"))
    spent = 0
    for trial in trials:
        steps = sorted(trial.intermediate_values)
        hit = next((s for s in steps if trial.intermediate_values[s] >= target), None)
        if hit is not None:
            reached_at = steps.index(hit) + 1
            first = trial.number == trials[0].number
            return Outcome(spent + reached_at, True, first, best_final, seconds)
        spent += int(trial.user_attrs.get(EPOCHS, 0))
    return Outcome(spent, False, False, best_final, seconds)


def run_study(
    config: RunConfig, root: Path, study_name: str, pool: ProcessPoolExecutor | None
) -> None:
    """Create the study, then run its workers (at once, in ``pool``, when there are several)."""
    load_study(config.tune, seed=config.seed, study_name=study_name, storage=config.tune.storage)
    data = config.to_dict()
    if pool is None:
        work(data, str(root), study_name, 0)
        return
    futures = [
        pool.submit(work, data, str(root), study_name, worker)
        for worker in range(config.tune.parallel_trials)
    ]
    for future in futures:
        future.result()


def spread(values: list[float]) -> str:
    """Median, quartiles and range of ``values``."""
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else "-"
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return (
        f"{statistics.median(values):.2f} (IQR {low:.2f}-{high:.2f}, "
        f"range {min(values):.2f}-{max(values):.2f})"
    )


def report(results: dict[str, list[Outcome]], seeds: int) -> None:
    """The summary lines: ratios to the baseline and best final accuracies, per arm."""
    base = results[BASELINE]
    print()
    firsts = ", ".join(
        f"{arm} {sum(o.first_trial for o in runs)}/{seeds}" for arm, runs in results.items()
    )
    print(f"seeds whose first trial alone reached the target: {firsts}")
    print("epochs-to-target ratio vs the baseline, per seed: median (IQR, range); summed epochs")
    for arm, runs in results.items():
        if arm == BASELINE:
            continue
        ratios = [o.epochs / b.epochs for o, b in zip(runs, base, strict=True)]
        pooled = sum(o.epochs for o in runs) / sum(b.epochs for b in base)
        missed = sum(not o.reached for o in runs)
        print(
            f"  {arm:<14} {spread(ratios)}; summed {sum(o.epochs for o in runs)} / "
            f"{sum(b.epochs for b in base)} = {pooled:.2f}; missed the target {missed}/{seeds}"
        )
    print(f"  {BASELINE} missed the target {sum(not b.reached for b in base)}/{seeds}")
    print("best final val_accuracy, mean over seeds; vs the baseline in points: mean, worst seed")
    base_mean = statistics.mean(b.best_final for b in base)
    for arm, runs in results.items():
        mean = statistics.mean(o.best_final for o in runs)
        diffs = [100 * (o.best_final - b.best_final) for o, b in zip(runs, base, strict=True)]
        versus = (
            ""
            if arm == BASELINE
            else f"  {mean * 100 - base_mean * 100:+.2f} pts, worst seed {min(diffs):+.2f} pts"
        )
        seconds = sum(o.seconds for o in runs)
        print(f"  {arm:<14} {mean:.4f}{versus}  ({seconds:.0f} s in all)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12, help="studies per arm (seeds 0..N-1)")
    parser.add_argument("--trials", type=int, default=100, help="trial budget of every study")
    parser.add_argument("--target", type=float, default=0.98, help="val_accuracy to reach")
    parser.add_argument("--epochs", type=int, default=27, help="epochs per trial (tune.epochs)")
    parser.add_argument("--workers", type=int, default=1, help="tuning workers per study")
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated arms to run")
    args = parser.parse_args()
    arms = [BASELINE, *(a for a in args.arms.split(",") if a and a != BASELINE)]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spawn = multiprocessing.get_context("spawn")
    workers = (
        ProcessPoolExecutor(args.workers, mp_context=spawn) if args.workers > 1 else nullcontext()
    )
    with tempfile.TemporaryDirectory(prefix="trainpipe-bench-") as tmp, workers as pool:
        root = Path(tmp)
        base = load_config(CONFIG, DATA_OVERRIDES)
        prepare_splits(base, root)
        results: dict[str, list[Outcome]] = {arm: [] for arm in arms}
        print(
            f"digits MLP, target val_accuracy >= {args.target}, budget {args.trials} trials x "
            f"{args.epochs} epochs per study, {args.workers} worker(s) per study, "
            f"{args.seeds} seeds"
        )
        print("epochs to target per seed (* never reached: everything it spent)")
        print(f"{'seed':>4}  " + "  ".join(f"{arm:>14}" for arm in arms))
        for seed in range(args.seeds):
            cells = []
            for arm in arms:
                config = study_config(
                    root,
                    seed=seed,
                    arm=arm,
                    trials=args.trials,
                    epochs=args.epochs,
                    workers=args.workers,
                )
                started = time.perf_counter()
                run_study(config, root, f"s{seed}", pool)
                result = outcome(config, f"s{seed}", args.target, time.perf_counter() - started)
                results[arm].append(result)
                mark = "" if result.reached else "*"
                cells.append(f"{result.epochs}{mark}{' (1st)' if result.first_trial else ''}")
            print(f"{seed:>4}  " + "  ".join(f"{cell:>14}" for cell in cells), flush=True)
        report(results, args.seeds)


if __name__ == "__main__":
    main()
