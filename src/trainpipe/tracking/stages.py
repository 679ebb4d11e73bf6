"""What each pipeline stage tells MLflow, as plain functions over the stage's own results.

A stage wraps its work in :func:`tracked_stage`, which opens the pipeline's MLflow run for it
(see :mod:`trainpipe.tracking.mlflow_run` for how the stages find the one run), marks the run
failed when the stage raises, and puts the stage's tracking summary (run id, failure count) in
its stage record. Inside, the stage logs its part:

============  ==============================================================================
tune-setup    opens (creates) the run before the tuning workers fan out
tune-worker   each trial as a nested run (:mod:`trainpipe.tracking.trials`)
tune-select   the trial counts and the best value; the tuning report (``reports/tuning.html``)
train         the config the model trains with as params (:func:`log_config`); the training
              job's rank 0 logs each epoch's row at step = epoch (from 1). ``trainpipe
              train`` outside a pipeline tracks the same as a run of its own, and ends it
validate      validation metrics (``validation_<name>``), the learning-curve diagnosis as
              tags; the curves (``reports/validation.html``)
evaluate      test metrics (``test_<name>``), the gate; the report (``reports/evaluation.html``);
              ends the run when the gate does not bless the model
register      the registry version, its lineage digest and the model card
              (``registry/MODEL_CARD.md``) as tags and an artifact; ends the run
============  ==============================================================================
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from trainpipe.config import RunConfig
from trainpipe.console import print_line
from trainpipe.errors import StorageError
from trainpipe.tracking.mlflow_run import NAME_TAG, Log, Tracking

if TYPE_CHECKING:
    from trainpipe.evaluate.stages import Evaluation
    from trainpipe.launch.train_job import TrainResult
    from trainpipe.registry.register import RegisterResult
    from trainpipe.registry.registry import ModelRegistry

__all__ = [
    "REPORTS",
    "config_params",
    "log_config",
    "log_evaluation",
    "log_registration",
    "log_training",
    "log_tuning",
    "log_validation",
    "recorded_run",
    "tracked_stage",
]

REPORTS = "reports"
"""The artifact folder of the run's HTML reports."""
TRACKING_KEY = "tracking"
"""The key of the tracking summary in a stage record's outputs and in ``metrics.json``."""


def recorded_run(model: str) -> str:
    """The MLflow run a trained model's job logged to (its ``metrics.json``), or ""."""
    from trainpipe.storage.factory import open_store
    from trainpipe.train.model_files import METRICS_KEY

    try:
        store = open_store(model)
        metrics = store.read_json(METRICS_KEY) if store.exists(METRICS_KEY) else {}
    except (StorageError, OSError, ValueError):
        return ""
    tracking = metrics.get(TRACKING_KEY) if isinstance(metrics, dict) else None
    return str(tracking.get("mlflow_run_id") or "") if isinstance(tracking, dict) else ""


def run_name(config: RunConfig, run_id: str) -> str:
    """The MLflow run name of pipeline run ``run_id``: ``<name>-<run id>``."""
    return f"{config.name}-{run_id}" if run_id else config.name


@contextlib.contextmanager
def tracked_stage(
    config: RunConfig,
    stage: str,
    *,
    run_id: str = "",
    model: str = "",
    outputs: MutableMapping[str, Any] | None = None,
    client: Any = None,
    log: Log = print_line,
) -> Iterator[Tracking]:
    """Track ``stage`` in the pipeline run's MLflow run (a no-op when ``tracking.mlflow`` is
    empty); yields the :class:`Tracking` to log with.

    The run is the one ``model`` (a trained model's location) recorded, else the one tagged
    with ``run_id``, created when missing; with neither, a new run. Given a ``model`` that
    recorded none (its training could not reach MLflow), nothing is tracked and that counts as a
    failure. When the block raises, the run is marked failed (tag ``trainpipe.failed_stage``)
    and the exception goes on. ``outputs`` (a stage record's) receives the tracking summary,
    and a notice when MLflow calls failed; nothing here raises on MLflow's account.
    """
    tracking = Tracking.for_config(config, client=client, log=log)
    if tracking.enabled:
        recorded = recorded_run(model) if model else ""
        if recorded or run_id or not model:
            tracking.open(
                run_id=run_id,
                mlflow_run_id=recorded,
                run_name=run_name(config, run_id),
                tags={NAME_TAG: config.name},
            )
        else:
            tracking.add_failures(1, [f"{stage}: the model at {model} records no MLflow run"])
            log(
                f"[trainpipe] warning: tracking: the model at {model} records no MLflow run "
                f"(its training could not reach MLflow); {stage} is not tracked"
            )
    try:
        yield tracking
    except BaseException as exc:
        message = " ".join(str(exc).split())[:500]
        tracking.set_tags(
            {
                f"trainpipe.stage.{stage}": "failed",
                "trainpipe.failed_stage": stage,
                "trainpipe.error": f"{type(exc).__name__}: {message}",
            }
        )
        tracking.finish("FAILED" if isinstance(exc, Exception) else "KILLED")
        _report(tracking, stage, outputs, log)
        raise
    tracking.set_tags({f"trainpipe.stage.{stage}": "succeeded"})
    _report(tracking, stage, outputs, log)


def _report(
    tracking: Tracking, stage: str, outputs: MutableMapping[str, Any] | None, log: Log
) -> None:
    if not tracking.enabled:
        return
    summary = tracking.summary()
    if outputs is not None:
        outputs[TRACKING_KEY] = summary
    if tracking.failures:
        line = (
            f"tracking: {tracking.failures} MLflow call(s) of {stage} failed or were skipped "
            f"(first: {tracking.errors[0] if tracking.errors else 'unknown'})"
        )
        log(f"[trainpipe] warning: {line}")
        if outputs is not None:
            outputs["notices"] = [*(outputs.get("notices") or []), line]


def config_params(config: RunConfig) -> dict[str, Any]:
    """The run config as MLflow params: one per leaf, keyed by its dotted name."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = value

    walk("", config.to_dict())
    return flat


def log_config(
    tracking: Tracking, config: RunConfig, *, best_params: Mapping[str, Any] | str = ""
) -> None:
    """The config the model trains with (tuned values applied) as params; the tuned values
    also as the tag ``trainpipe.best_params``."""
    tracking.log_params(config_params(config))
    if isinstance(best_params, str):
        try:
            best_params = json.loads(best_params) if best_params.strip() else {}
        except json.JSONDecodeError:
            best_params = {}
    if best_params:
        tracking.set_tags({"trainpipe.best_params": json.dumps(best_params, sort_keys=True)})


def log_training(tracking: Tracking, result: TrainResult) -> None:
    """After the training job: count the MLflow failures its rank 0 had as this stage's, and
    tag the world size. (The job logged each epoch itself.)"""
    job = result.tracking or {}
    tracking.add_failures(int(job.get("failures", 0) or 0), job.get("errors") or [])
    tracking.set_tags({"trainpipe.world_size": result.world_size})


def log_tuning(tracking: Tracking, table: Mapping[str, Any], *, report_html: str) -> None:
    """The tuning outcome: trial counts and the best value as metrics, the tuning report as
    ``reports/tuning.html`` (nothing when no trial ran)."""
    counts = ("n_complete", "n_pruned", "n_failed", "total_epochs")
    if not any(table.get(key) for key in counts):
        return
    metrics = {f"tune_{key}": table[key] for key in counts if key in table}
    if isinstance(table.get("best_value"), int | float):
        metrics["tune_best_value"] = table["best_value"]
    tracking.log_metrics(metrics)
    tracking.log_text(report_html, f"{REPORTS}/tuning.html")


def log_validation(tracking: Tracking, evaluation: Evaluation, *, report_html: str) -> None:
    """Validation metrics (``validation_<name>``: the epochs' ``val_*`` series are the
    training job's), the learning-curve diagnosis as tags (``trainpipe.diagnosis`` and its
    reasons), the curves as ``reports/validation.html``."""
    tracking.log_metrics({f"validation_{k}": v for k, v in evaluation.scalars().items()})
    if evaluation.diagnosis is not None:
        tracking.set_tags(
            {
                "trainpipe.diagnosis": evaluation.diagnosis.verdict,
                "trainpipe.diagnosis.reasons": evaluation.diagnosis.reasons,
            }
        )
    tracking.log_text(report_html, f"{REPORTS}/validation.html")


def log_evaluation(tracking: Tracking, evaluation: Evaluation, *, report_html: str) -> None:
    """Test metrics (``test_<name>``), the gate's verdict as tags, the report as
    ``reports/evaluation.html``. A model the gate does not bless is not registered: the run
    ends here."""
    tracking.log_metrics({f"test_{k}": v for k, v in evaluation.scalars().items()})
    tags: dict[str, Any] = {"trainpipe.blessed": evaluation.blessed}
    if evaluation.gate is not None:
        tags["trainpipe.gate"] = evaluation.gate.reason
    if evaluation.promotion:
        tags["trainpipe.promotion"] = str(evaluation.promotion.get("reason", ""))
    tracking.set_tags(tags)
    tracking.log_text(report_html, f"{REPORTS}/evaluation.html")
    if not evaluation.blessed:
        tracking.finish("FINISHED")


def log_registration(
    tracking: Tracking, registered: RegisterResult, *, registry: ModelRegistry
) -> None:
    """The registered version (``trainpipe.registry.*`` tags: model, version, ref, uri, alias),
    its lineage digest (``trainpipe.lineage_digest``: the sha256 of ``lineage.json`` in the
    version's manifest) and its model card (``registry/MODEL_CARD.md``); the run ends here."""
    if not tracking.enabled:
        return

    def read() -> tuple[str, str]:
        from trainpipe.registry.registry import LINEAGE_KEY
        from trainpipe.storage.factory import open_store

        version = registry.get(registered.name, registered.version)
        card = open_store(version.uri).read_bytes("MODEL_CARD.md").decode("utf-8")
        return f"sha256:{version.files[LINEAGE_KEY]}", card

    digest, card = tracking.guard("read the registered version", read) or ("", "")
    tags: dict[str, Any] = {
        "trainpipe.registry.model": registered.name,
        "trainpipe.registry.version": registered.version,
        "trainpipe.registry.ref": registered.ref,
        "trainpipe.registry.uri": registered.uri,
    }
    if registered.alias:
        tags["trainpipe.registry.alias"] = registered.alias
    if digest:
        tags["trainpipe.lineage_digest"] = digest
    tracking.set_tags(tags)
    if card:
        tracking.log_text(card, "registry/MODEL_CARD.md")
    tracking.finish("FINISHED")
