"""Benchmark: epochs a tuner spends before some trial reaches a target validation accuracy.

Compares TPE with median pruning against random search without pruning (the baseline, run beside
it on the same data, budget and seeds) on scikit-learn's digits, and prints the ratio of their
mean epochs-to-target. Below 1.0 means pruning reaches the target with fewer training epochs.

    .venv/bin/python benchmarks/tune_pruning.py [--seeds 5] [--trials 25] [--target 0.975]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from trainpipe.config import RunConfig, load_config
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.tune.study import EPOCHS, load_study
from trainpipe.tune.worker import run_worker

CONFIG = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "digits.yaml"
SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-5, "high": 0.3, "log": True},
    "model.dropout": {"type": "float", "low": 0.0, "high": 0.6},
}


def study_config(root: Path, *, seed: int, sampler: str, pruner: str, trials: int) -> RunConfig:
    data = load_config(CONFIG, ["train.nproc_per_node=1", "train.num_threads=1"]).to_dict()
    data["seed"] = seed
    data["tune"] |= {
        "max_trials": trials,
        "parallel_trials": 1,
        "epochs": 8,
        "sampler": sampler,
        "pruner": pruner,
        "metric": "val_accuracy",
        "direction": "maximize",
        "max_failed_trials": trials,
        "storage": f"journal://{root / f'{sampler}-{pruner}-{seed}.journal'}",
        "search_space": SPACE,
    }
    return RunConfig.from_dict(data)


def epochs_to_target(config: RunConfig, study_name: str, target: float) -> tuple[int, bool]:
    """Epochs spent, in trial order, until a trial first reached ``target`` (or all of them)."""
    study = load_study(
        config.tune, seed=config.seed, study_name=study_name, storage=config.tune.storage
    )
    spent = 0
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        spent += int(trial.user_attrs.get(EPOCHS, 0))
        best = max(trial.intermediate_values.values(), default=float("-inf"))
        if trial.state == optuna.trial.TrialState.COMPLETE:
            best = max(best, float(trial.value or 0.0))
        if best >= target:
            return spent, True
    return spent, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--target", type=float, default=0.975)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="trainpipe-bench-") as tmp:
        root = Path(tmp)
        base = load_config(CONFIG)
        ingest(base, str(root / "dataset"))
        split_dataset(
            base, str(root / "dataset"), str(root / "train"), str(root / "val"), str(root / "test")
        )
        arms = {"tpe+median (pruned)": ("tpe", "median"), "random (baseline)": ("random", "none")}
        results: dict[str, list[int]] = {arm: [] for arm in arms}
        print(f"target val_accuracy >= {args.target}, {args.trials} trials x 8 epochs max")
        print(f"{'seed':>4}  " + "  ".join(f"{arm:>22}" for arm in arms))
        for seed in range(args.seeds):
            row = []
            for arm, (sampler, pruner) in arms.items():
                config = study_config(
                    root, seed=seed, sampler=sampler, pruner=pruner, trials=args.trials
                )
                started = time.perf_counter()
                run_worker(
                    config,
                    train_data=str(root / "train"),
                    validation_data=str(root / "val"),
                    storage=config.tune.storage,
                    study_name=f"s{seed}",
                    log=lambda line: None,
                )
                spent, reached = epochs_to_target(config, f"s{seed}", args.target)
                results[arm].append(spent)
                mark = "" if reached else " (missed)"
                row.append(f"{spent:>6} epochs {time.perf_counter() - started:5.1f}s{mark}")
            print(f"{seed:>4}  " + "  ".join(f"{cell:>22}" for cell in row))
        pruned, baseline = (statistics.mean(v) for v in results.values())
        print(f"mean epochs to target: pruned {pruned:.1f}, baseline {baseline:.1f}")
        print(f"ratio pruned/baseline: {pruned / baseline:.2f}")


if __name__ == "__main__":
    main()
