"""Tuning components: Katib-style workers on one shared Optuna study, and the fan-in."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tune_setup_op(config_json: str, run_id: str) -> list:
    """Create the shared study before the fan-out (and enqueue the grid once).

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        run_id: The pipeline run's id: it names the study.

    Returns:
        Output: One item per parallel worker (``tune.parallel_trials`` of them; none when
            ``tune.max_trials`` is 0): a ``ParallelFor`` fans out over this list, so the config
            is the one place that says how many workers run.
    """
    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "tune-setup") as stage,
        tracked_stage(config, "tune-setup", run_id=run_id, outputs=stage.outputs),
    ):
        from trainpipe.tune.study import setup_study, study_location
        from trainpipe.tune.warm_start import warm_start_for

        storage, study_name = study_location(config, run_id)
        workers = config.tune.worker_ids if config.tune.max_trials else []
        notices = [config.tune.space_notice()]
        if workers:
            with stage.core():
                first = warm_start_for(config)
                setup_study(
                    config.tune,
                    seed=config.seed,
                    study_name=study_name,
                    storage=storage,
                    first=first.params,
                    first_from=first.source,
                )
            notices += [first.notice] if first.notice else []
        stage.outputs.update(study=study_name, workers=len(workers))
        if workers:
            stage.outputs["notices"] = notices
    return workers


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tune_worker_op(
    config_json: str,
    worker: int,
    run_id: str,
    train: Input[Dataset],
    validation: Input[Dataset],
) -> int:
    """Run trials on the shared study until it holds ``tune.max_trials``; return how many ran.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        worker: This worker's id (an item of tune-setup's output).
        run_id: The pipeline run's id: it names the study.
        train: The training split (the split step's output).
        validation: The validation split (the split step's output).

    Returns:
        Output: How many trials this worker ran.
    """
    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "tune-worker", worker=worker) as stage,
        tracked_stage(config, "tune-worker", run_id=run_id, outputs=stage.outputs) as tracking,
    ):
        from trainpipe.tracking.trials import TrialTracker
        from trainpipe.tune.study import study_location
        from trainpipe.tune.worker import run_worker

        storage, study_name = study_location(config, run_id)
        with stage.core():
            result = run_worker(
                config,
                train_data=train.path,
                validation_data=validation.path,
                storage=storage,
                study_name=study_name,
                worker=worker,
                tracking=TrialTracker.for_config(config, tracking, worker=worker),
            )
        stage.outputs["trials"] = len(result.trials)
    return len(result.trials)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tune_select_op(
    config_json: str,
    run_id: str,
    trials: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
) -> str:
    """Fan-in: return the best parameters (JSON); write the trial table and the HTML report.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        run_id: The pipeline run's id: it names the study.

    Returns:
        trials: Every trial's parameters, values and state, as JSON.
        metrics: How many trials completed, were pruned or failed, and the best value.
        report: The tuning report (HTML): history, parameter importance, trials.
        Output: The best parameters as a JSON object of dotted config keys (``{}`` when no
            trial ran): the train and register steps' ``best_params``.
    """
    import json

    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "tune-select") as stage,
        tracked_stage(config, "tune-select", run_id=run_id, outputs=stage.outputs) as tracking,
    ):
        from trainpipe.tracking.stages import log_tuning
        from trainpipe.tune.report import render_tuning_report
        from trainpipe.tune.study import study_location
        from trainpipe.tune.summary import best_params_json, summarize

        storage, study_name = study_location(config, run_id)
        with stage.core():
            summary = summarize(config, storage=storage, study_name=study_name)
            table = summary.to_dict()
            html = render_tuning_report(table, title=f"tuning: {study_name}")
        with open(trials.path, "w", encoding="utf-8") as handle:
            json.dump(table, handle, indent=2, default=str)
        if not report.uri.endswith(".html"):
            report.uri += ".html"  # as the evaluate step's report: a page a browser opens
        with open(report.path, "w", encoding="utf-8") as handle:
            handle.write(html)
        log_tuning(tracking, table, report_html=html)
        for key in ("n_complete", "n_pruned", "n_failed", "total_epochs"):
            metrics.log_metric(key, getattr(summary, key))
        if summary.best_value is not None:
            metrics.log_metric("best_value", summary.best_value)
        best = best_params_json(summary)
        stage.outputs.update(trials=trials.uri, tuning_report=report.uri, best_params=best)
    return best
