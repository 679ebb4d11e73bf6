"""Tuning components: Katib-style workers on one shared Optuna study, and the fan-in."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tune_setup_op(config_json: str, run_id: str) -> str:
    """Create the shared study before the fan-out (and enqueue the grid once); return its name."""
    from trainpipe.config import RunConfig
    from trainpipe.tune.study import setup_study
    from trainpipe.tune.worker import study_location

    config = RunConfig.from_json(config_json)
    storage, study_name = study_location(config, run_id)
    if config.tune.max_trials:
        setup_study(config.tune, seed=config.seed, study_name=study_name, storage=storage)
    return study_name


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tune_worker_op(
    config_json: str,
    worker: int,
    run_id: str,
    train: Input[Dataset],
    validation: Input[Dataset],
) -> int:
    """Run trials on the shared study until it holds ``tune.max_trials``; return how many ran."""
    from trainpipe.config import RunConfig
    from trainpipe.tune.worker import run_worker, study_location

    config = RunConfig.from_json(config_json)
    storage, study_name = study_location(config, run_id)
    result = run_worker(
        config,
        train_data=train.path,
        validation_data=validation.path,
        storage=storage,
        study_name=study_name,
        worker=worker,
    )
    return len(result.trials)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tune_select_op(
    config_json: str,
    run_id: str,
    trials: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
) -> str:
    """Fan-in: return the best parameters (JSON); write the trial table and the HTML report."""
    import json

    from trainpipe.config import RunConfig
    from trainpipe.tune.report import render_tuning_report
    from trainpipe.tune.worker import best_params_json, study_location, summarize

    config = RunConfig.from_json(config_json)
    storage, study_name = study_location(config, run_id)
    summary = summarize(config, storage=storage, study_name=study_name)
    with open(trials.path, "w", encoding="utf-8") as handle:
        json.dump(summary.to_dict(), handle, indent=2, default=str)
    with open(report.path, "w", encoding="utf-8") as handle:
        handle.write(render_tuning_report(summary.to_dict(), title=f"tuning: {study_name}"))
    for key in ("n_complete", "n_pruned", "n_failed", "total_epochs"):
        metrics.log_metric(key, getattr(summary, key))
    if summary.best_value is not None:
        metrics.log_metric("best_value", summary.best_value)
    return best_params_json(summary)
