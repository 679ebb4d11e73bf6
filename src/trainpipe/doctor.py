"""``trainpipe doctor RUN``: read a run's summary, events and logs and say what went wrong.

A run is the directory ``trainpipe run`` wrote (``summary.json``, ``pipeline.log``, ``config.json``
and ``artifacts/``) or its ``summary.json``, or the model directory of a training job alone
(``trainpipe train``: ``model.json`` and ``metrics.json``; after a failure ``summary.json`` and
the job's ``failure.json``). The doctor reads the summary, the
training job's ``metrics.json`` (history, events, sanity checks), the ingested data's statistics
and the tail of the log, and turns them into findings: each with a severity (``error``,
``warning``, ``info``), the numbers it rests on, what it means and the next step to take.
Nothing here needs the cluster or the model's weights.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainpipe.data.row_accounting import NOTICE_SHARE, RowAccount
from trainpipe.errors import TrainpipeError
from trainpipe.runs.summary import RunError, RunSummary
from trainpipe.train.failure import FAILURE_KEY
from trainpipe.train.membership import membership_history

__all__ = ["DoctorReport", "Finding", "RunRecord", "diagnose_run", "examine", "load_run"]

Severity = Literal["error", "warning", "info"]
_ORDER = {"error": 0, "warning": 1, "info": 2}
_LOG_TAIL = 400

IMBALANCE_RATIO = 3.0
"""Largest over smallest class count above which the data counts as imbalanced."""
INPUT_WAIT_SHARE = 0.25
"""Share of an epoch's time spent waiting for batches above which the input pipeline is slow."""
INPUT_WAIT_EPOCH_SHARE = 0.5
"""The same for a single epoch (a stall that hit one epoch only)."""


@dataclass(frozen=True)
class Finding:
    """One thing the doctor noticed: what, how bad, the numbers, what it means, what to do."""

    kind: str
    severity: Severity
    title: str
    explanation: str
    next_step: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "explanation": self.explanation,
            "next_step": self.next_step,
            "evidence": self.evidence,
        }


@dataclass
class RunRecord:
    """Everything the doctor reads about one run; missing parts are empty."""

    run_dir: Path
    summary: RunSummary | None
    """The run's summary; None for a training job's model directory alone."""
    training: dict[str, Any] = field(default_factory=dict)
    """The train-op model's ``metrics.json``: history, events, resources, sanity (a failed
    job's ``failure.json``: history and events)."""
    statistics: dict[str, Any] = field(default_factory=dict)
    """The ingested dataset's ``stats.json`` (``class_balance`` among others)."""
    config: dict[str, Any] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)
    """The last lines of ``pipeline.log``."""
    split_findings: list[dict[str, Any]] = field(default_factory=list)
    """The split's leak and quality findings (the train split's ``quality.json``)."""

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch rows of the training history."""
        rows = self.training.get("history")
        return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

    @property
    def events(self) -> list[dict[str, Any]]:
        """Training events: the summary's copy, else the model artifact's."""
        if self.summary is not None and self.summary.events:
            return list(self.summary.events)
        events = self.training.get("events")
        return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []

    @property
    def anomalies(self) -> list[dict[str, Any]]:
        """Anomaly events (``type == "anomaly"``)."""
        if self.summary is not None and self.summary.anomalies:
            return list(self.summary.anomalies)
        return [e for e in self.events if e.get("type") == "anomaly"]

    @property
    def status(self) -> str:
        """The run's status; ``trained`` for a training job's model directory."""
        return self.summary.status if self.summary is not None else "trained"

    @property
    def test_metrics(self) -> dict[str, Any]:
        """The evaluate step's test metrics (empty without a summary)."""
        return dict(self.summary.metrics.get("test") or {}) if self.summary is not None else {}

    @property
    def task(self) -> str:
        """``classification`` or ``regression`` (from the config; classification if unknown)."""
        return str(self.config.get("task") or "classification")


@dataclass
class DoctorReport:
    """The findings about one run, most severe first."""

    run: str
    status: str
    findings: list[Finding]

    @property
    def healthy(self) -> bool:
        """True when nothing is an error or a warning."""
        return all(f.severity == "info" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "run": self.run,
            "status": self.status,
            "healthy": self.healthy,
            "findings": [f.to_dict() for f in self.findings],
        }

    def format(self) -> str:
        """Readable text for the console."""
        worst = self.findings[0].severity if self.findings else "info"
        verdict = "looks healthy" if self.healthy else f"needs attention ({worst})"
        lines = [f"run {self.run}: {self.status}, {verdict}"]
        for finding in self.findings:
            lines.append("")
            lines.append(f"[{finding.severity.upper()}] {finding.title}")
            lines.append(f"  what: {finding.explanation}")
            if finding.evidence:
                shown = ", ".join(f"{k}={_show(v)}" for k, v in finding.evidence.items())
                lines.append(f"  evidence: {shown}")
            lines.append(f"  next: {finding.next_step}")
        return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


# ------------------------------------------------------------------------------------ loading


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrainpipeError(
            f"{what} {path} is not valid JSON ({exc}); is the file complete?"
        ) from exc
    except OSError as exc:
        raise TrainpipeError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TrainpipeError(f"{what} {path} must hold a JSON object, got {type(data).__name__}")
    return data


def _optional_json(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(path: str | Path) -> RunRecord:
    """Read a run directory (or its ``summary.json``) and what lies beside it.

    Raises:
        TrainpipeError: the path does not exist, holds no ``summary.json``, or the summary is
            not a JSON object.
    """
    target = Path(path).expanduser()
    if not target.exists():
        raise TrainpipeError(
            f"run {target} does not exist: pass a run directory written by trainpipe run (it "
            "holds summary.json) or the path of its summary.json"
        )
    if target.is_dir() and not (target / "summary.json").is_file():
        if (target / "metrics.json").is_file() and (target / "model.json").is_file():
            return _model_record(target)
        raise TrainpipeError(
            f"no summary.json in {target}: is it a run directory written by trainpipe run, or "
            "a model directory written by trainpipe train? (a run started with --summary-out "
            "keeps it there: pass that file)"
        )
    summary_path = target / "summary.json" if target.is_dir() else target
    summary = RunSummary.load(summary_path)
    run_dir = summary_path.parent
    if (Path(summary.run_dir) / "summary.json").is_file() or Path(summary.run_dir).is_dir():
        run_dir = Path(summary.run_dir)
    # A failed training job left no metrics, only its failure record (history and events).
    training = _optional_json(_artifact_file(summary, "model", "metrics.json")) or _optional_json(
        _artifact_file(summary, "model", FAILURE_KEY)
    )
    statistics = _optional_json(_artifact_file(summary, "dataset", "stats.json"))
    quality = _artifact_file(summary, "train", "quality.json")
    split_findings: list[dict[str, Any]] = []
    if quality is not None and quality.is_file():
        try:
            loaded = json.loads(quality.read_text())
        except (OSError, json.JSONDecodeError):
            loaded = []
        split_findings = (
            [f for f in loaded if isinstance(f, dict)] if isinstance(loaded, list) else []
        )
    log_path = Path(summary.log or run_dir / "pipeline.log")
    lines: list[str] = []
    if log_path.is_file():
        with log_path.open(encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()[-_LOG_TAIL:]
    return RunRecord(
        run_dir=run_dir,
        summary=summary,
        training=training,
        statistics=statistics,
        config=_optional_json(run_dir / "config.json"),
        log_lines=lines,
        split_findings=split_findings,
    )


def _artifact_file(summary: RunSummary, artifact: str, name: str) -> Path | None:
    """A file inside one of the run's artifacts, when the artifact is a local directory."""
    uri = summary.artifacts.get(artifact)
    if not uri or "://" in uri.replace("file://", ""):
        return None
    return Path(uri.removeprefix("file://")) / name


def _model_record(model_dir: Path) -> RunRecord:
    """A training job's output alone (``trainpipe train``, or a job's model directory): its
    ``metrics.json`` stands in for the run; there is no pipeline summary or log."""
    training = _read_json(model_dir / "metrics.json", "training metrics")
    description = _read_json(model_dir / "model.json", "model description")
    return RunRecord(
        run_dir=model_dir,
        summary=None,
        training=training,
        config={"task": description.get("task", "classification")},
    )


# ----------------------------------------------------------------------------------- findings


_FAILURE_STEPS = {
    "preempted": "rerun the same run: training resumes from its last checkpoint",
    "host_oom": "raise job.memory or lower train.batch_size",
    "killed": "if it was memory, raise job.memory or lower train.batch_size; if it was an "
    "outside kill (a lost node, a deleted pod), rerun the same run to resume from its last "
    "checkpoint",
    "cuda_oom": "lower train.batch_size or use train.precision=bf16",
    "rendezvous_timeout": "check that every worker pod was scheduled and can reach the master",
    "non_finite": "lower train.learning_rate, add train.warmup_epochs, keep train.grad_clip > 0",
    "image_mismatch": "use the image that matches the node (cpu vs cuda, amd64 vs arm64)",
    "user_error": "fix the config, data or code that the error message names",
}


def _failure(record: RunRecord) -> list[Finding]:
    summary = record.summary
    if summary is None or summary.succeeded:
        return []
    error = summary.error or RunError(stage="?", message="no error message was recorded")
    kind, action, evidence_line = error.failure_class, error.action, ""
    if not kind and record.log_lines:
        from trainpipe.launch.diagnose import diagnose_failure

        diagnosis = diagnose_failure([], record.log_lines)
        if diagnosis.kind != "unknown":
            kind, action, evidence_line = diagnosis.kind, diagnosis.action, diagnosis.evidence
    stage, message = error.stage, error.message
    evidence: dict[str, Any] = {"stage": stage, "message": message}
    if kind:
        evidence["failure_class"] = kind
    if evidence_line:
        evidence["log"] = evidence_line
    log = record.run_dir / "pipeline.log"
    step = (
        action
        or _FAILURE_STEPS.get(kind)
        or (
            f"read {log} around the first error of stage {stage}"
            if log.is_file()
            else f"fix what the message names, then rerun stage {stage}"
        )
    )
    title = f"the run failed in stage {stage}" + (f" ({kind})" if kind else "")
    return [
        Finding(
            kind=f"failure:{kind or 'unknown'}",
            severity="error",
            title=title,
            explanation=message,
            next_step=step,
            evidence=evidence,
        )
    ]


_ANOMALY_ADVICE: dict[str, tuple[Severity, str, str, str]] = {
    "divergence": (
        "error",
        "the training loss diverged",
        "the loss climbed far above its best value instead of falling: the updates are too "
        "large for this model and data",
        "lower train.learning_rate (halve it), add train.warmup_epochs and keep train.grad_clip "
        "> 0; if TRAINPIPE_INJECT_DIVERGENCE_AT_STEP was set this was a fault drill: unset it",
    ),
    "non_finite": (
        "error",
        "the loss or the gradients became NaN/inf",
        "a non-finite value reached the loss or the gradients; training rolled back to the last "
        "checkpoint with a smaller learning rate when it could",
        "lower train.learning_rate, add train.warmup_epochs, keep train.grad_clip > 0, and look "
        "for extreme values in the features (data.clip_quantile)",
    ),
    "stall": (
        "warning",
        "training stalled",
        "no step finished for a long time, or throughput collapsed against the run's usual pace",
        "check the data source and storage throughput and the node (CPU throttling, memory "
        "pressure, preemption); alert on time() - trainpipe_train_last_step_timestamp_seconds; "
        "if TRAINPIPE_INJECT_STALL_AT_STEP was set this was a fault drill: unset it",
    ),
    "loader_starvation": (
        "warning",
        "the model waited for data (input pipeline too slow)",
        "fetching batches took a large share of each step, so the accelerator sat idle",
        "move or cache the data next to the job, lighten on-the-fly augmentation (train.augment) "
        "or raise the job's CPU request; if TRAINPIPE_INJECT_STALL_AT_STEP was set this was a "
        "fault drill: unset it",
    ),
    "plateau": (
        "warning",
        "the validation loss stopped improving",
        "the validation loss has not improved for several epochs: the extra epochs cost time "
        "and risk overfitting",
        "train fewer epochs (or stop early), or lower the learning rate for the last epochs",
    ),
}


def _anomalies(record: RunRecord) -> list[Finding]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for event in record.anomalies:
        groups.setdefault(str(event.get("kind", "unknown")), []).append(event)
    findings = []
    for kind, events in groups.items():
        severity, title, meaning, step = _ANOMALY_ADVICE.get(
            kind,
            ("warning", f"anomaly {kind}", "the training monitor reported it", "read the log"),
        )
        first = events[0]
        evidence: dict[str, Any] = {
            "events": len(events),
            "first_epoch": first.get("epoch"),
            "first_step": first.get("global_step"),
            "value": first.get("value"),
            "threshold": first.get("threshold"),
            "ranks": sorted({e.get("rank") for e in events if e.get("rank") is not None}),
        }
        message = str(first.get("message") or "")
        explanation = f"{meaning}. {message}".strip() if message else meaning
        findings.append(
            Finding(
                kind=kind,
                severity=severity,
                title=title,
                explanation=explanation,
                next_step=step,
                evidence={k: v for k, v in evidence.items() if v not in (None, [])},
            )
        )
    return findings


def _training_events(record: RunRecord) -> list[Finding]:
    findings = []
    rollbacks = [
        e for e in record.events if e.get("type") == "non_finite" and e.get("action") == "rollback"
    ]
    if rollbacks and not any(a.get("kind") == "non_finite" for a in record.anomalies):
        findings.append(
            Finding(
                kind="non_finite",
                severity="warning",
                title="training rolled back after a non-finite loss",
                explanation=f"{len(rollbacks)} rollback(s) to the last checkpoint with the "
                "learning rate halved; the run recovered but the learning rate is on the edge",
                next_step="lower train.learning_rate or add train.warmup_epochs",
                evidence={"rollbacks": len(rollbacks), "first_at": rollbacks[0].get("at")},
            )
        )
    history = membership_history(record.events)
    if len(history) > 1:
        shown = " -> ".join(f"{m.nodes} (from step {m.global_step})" for m in history)
        findings.append(
            Finding(
                kind="membership",
                severity="info",
                title="the elastic job lost nodes and went on",
                explanation=f"nodes over the run: {shown}; each change resumed from the newest "
                "checkpoint, so the steps a group trained after it were trained again",
                next_step="check the lost nodes; trainpipe train --replay-membership MODEL "
                "--backend local trains the same history again, to the same weights",
                evidence={
                    "nodes": [m.nodes for m in history],
                    "from_steps": [m.global_step for m in history],
                },
            )
        )
    ooms = [e for e in record.events if e.get("type") == "out_of_memory"]
    if ooms:
        findings.append(
            Finding(
                kind="out_of_memory",
                severity="warning",
                title="training ran out of accelerator memory and backed off",
                explanation="the micro-batch was halved (gradient accumulation) until it fit; "
                "every step now runs several smaller forward passes",
                next_step="lower train.batch_size or use train.precision=bf16 to run at full speed",
                evidence={
                    "back_offs": len(ooms),
                    "micro_batches": ooms[-1].get("micro_batches"),
                },
            )
        )
    return findings


def _numbers(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if isinstance(r.get(key), (int, float))]


def _history_divergence(record: RunRecord) -> list[Finding]:
    if any(a.get("kind") in ("divergence", "non_finite") for a in record.anomalies):
        return []  # already explained by the monitor's own events
    losses = _numbers(record.history, "train_loss")
    if len(losses) < 2:
        return []
    bad = [i + 1 for i, v in enumerate(losses) if not math.isfinite(v)]
    finite = [v for v in losses if math.isfinite(v)]
    best = min(finite) if finite else math.nan
    last = losses[-1]
    if not bad and not (last > 2.0 * best and last > losses[0]):
        return []
    evidence: dict[str, Any] = {"first_loss": losses[0], "best_loss": best, "last_loss": last}
    if bad:
        evidence["non_finite_epochs"] = bad
    severity, title, meaning, step = _ANOMALY_ADVICE["divergence"]
    return [
        Finding(
            kind="divergence",
            severity=severity,
            title=f"{title} (read from the epoch history)",
            explanation=meaning,
            next_step=step,
            evidence=evidence,
        )
    ]


def _fit(record: RunRecord) -> list[Finding]:
    diagnosis = record.summary.diagnosis if record.summary is not None else None
    if not isinstance(diagnosis, Mapping) and record.history:
        from trainpipe.evaluate.stages import diagnose

        try:
            diagnosis = diagnose(record.history, record.task).to_dict()
        except (KeyError, TypeError, ValueError):
            diagnosis = None
    if not isinstance(diagnosis, Mapping):
        return []
    verdict = str(diagnosis.get("verdict", ""))
    reasons = [str(r) for r in diagnosis.get("reasons", [])]
    if verdict not in ("overfitting", "underfitting"):
        return []
    advice = reasons[-1] if reasons else ""
    facts = reasons[:-1] if len(reasons) > 1 else reasons
    last = record.history[-1] if record.history else {}
    evidence = {
        k: last[k]
        for k in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
        if isinstance(last.get(k), (int, float))
    }
    return [
        Finding(
            kind=verdict,
            severity="warning",
            title=f"the learning curves show {verdict}",
            explanation="; ".join(facts) or verdict,
            next_step=advice
            or (
                "add regularization (dropout, weight decay), fewer epochs or more data"
                if verdict == "overfitting"
                else "train longer, raise the learning rate or use a larger model"
            ),
            evidence=evidence,
        )
    ]


def _class_balance(record: RunRecord) -> dict[str, int]:
    balance = record.statistics.get("class_balance")
    if not isinstance(balance, Mapping):
        splits = (record.training.get("sanity") or {}).get("splits") or {}
        balance = (splits.get("train") or {}).get("class_balance")
    if not isinstance(balance, Mapping):
        return {}
    return {str(k): int(v) for k, v in balance.items() if isinstance(v, (int, float))}


def _imbalance(record: RunRecord) -> list[Finding]:
    balance = _class_balance(record)
    if len(balance) < 2:
        return []
    largest = max(balance, key=lambda k: balance[k])
    smallest = min(balance, key=lambda k: balance[k])
    ratio = balance[largest] / max(balance[smallest], 1)
    if ratio < IMBALANCE_RATIO and balance[smallest] > 0:
        return []
    mode = str((record.config.get("train") or {}).get("imbalance") or "none")
    evidence: dict[str, Any] = {
        "largest": f"{largest} ({balance[largest]})",
        "smallest": f"{smallest} ({balance[smallest]})",
        "ratio": round(ratio, 2),
        "train.imbalance": mode,
    }
    recall = record.test_metrics.get("per_class") or {}
    if isinstance(recall.get(smallest), Mapping) and "recall" in recall[smallest]:
        untested = recall[smallest].get("support") == 0
        evidence[f"test recall of {smallest}"] = (
            "not measured (no test rows)" if untested else recall[smallest]["recall"]
        )
    if mode != "none":
        return [
            Finding(
                kind="imbalance",
                severity="info",
                title="the classes are imbalanced (handled)",
                explanation=f"{largest} outnumbers {smallest} {ratio:.1f} to 1; "
                f"train.imbalance={mode} compensates",
                next_step="watch the minority classes' recall; add evaluate.recall_floors",
                evidence=evidence,
            )
        ]
    return [
        Finding(
            kind="imbalance",
            severity="warning",
            title="the classes are imbalanced",
            explanation=f"{largest} outnumbers {smallest} {ratio:.1f} to 1 and nothing "
            "compensates: accuracy can look good while the small classes are missed",
            next_step="set train.imbalance to class_weights (or oversample/smote) and add "
            "evaluate.recall_floors for the small classes",
            evidence=evidence,
        )
    ]


def _untested_classes(record: RunRecord) -> list[Finding]:
    per_class = record.test_metrics.get("per_class") or {}
    untested = [
        str(name)
        for name, scores in per_class.items()
        if isinstance(scores, Mapping) and scores.get("support") == 0
    ]
    if not untested:
        return []
    return [
        Finding(
            kind="untested_classes",
            severity="warning",
            title=f"{len(untested)} class(es) have no test rows",
            explanation=f"the test split holds no row of {', '.join(untested[:10])}: the test "
            "metrics say nothing of them (their recall is 0 by convention, not measured), and "
            "the gate does not bless such a model",
            next_step="keep split.stratify: true (a class of 3 rows or more gets one in each "
            "split) or add rows of those classes",
            evidence={"classes": untested},
        )
    ]


def _input_pipeline(record: RunRecord) -> list[Finding]:
    rows = [
        r
        for r in record.history
        if isinstance(r.get("data_wait_seconds"), (int, float))
        and isinstance(r.get("seconds"), (int, float))
        and float(r["seconds"]) > 0
    ]
    if not rows:
        return []
    if any(a.get("kind") == "loader_starvation" for a in record.anomalies):
        return []  # the monitor's event already says so, with its own numbers
    wait = sum(float(r["data_wait_seconds"]) for r in rows)
    total = sum(float(r["seconds"]) for r in rows)
    shares = [float(r["data_wait_seconds"]) / float(r["seconds"]) for r in rows]
    worst = max(range(len(rows)), key=lambda i: shares[i])
    share = wait / total if total > 0 else 0.0
    if share < INPUT_WAIT_SHARE and shares[worst] < INPUT_WAIT_EPOCH_SHARE:
        return []
    severity, title, meaning, step = _ANOMALY_ADVICE["loader_starvation"]
    epoch = rows[worst].get("epoch", worst + 1)
    return [
        Finding(
            kind="slow_input",
            severity=severity,
            title=title,
            explanation=f"{meaning}: {share:.0%} of the training time went to waiting for "
            f"batches, {shares[worst]:.0%} in epoch {_show(epoch)}",
            next_step=step,
            evidence={
                "data_wait_seconds": round(wait, 3),
                "epoch_seconds": round(total, 3),
                "share": round(share, 3),
                "worst_epoch": epoch,
                "worst_epoch_share": round(shares[worst], 3),
            },
        )
    ]


_DOCTOR_HINT = " (trainpipe doctor explains more)"
"""What the baseline comparison's message (:mod:`trainpipe.train.sanity`) ends with on the
console and in the gate; the doctor is that explanation, so it leaves the pointer out."""


def _baseline(record: RunRecord) -> list[Finding]:
    findings = []
    baseline = record.summary.baseline if record.summary is not None else None
    if isinstance(baseline, Mapping) and baseline.get("beats") is False:
        tie = baseline.get("worse") is False  # summaries before the tie was recorded: worse
        findings.append(
            Finding(
                kind="baseline",
                severity="info" if tie else "warning",
                title=f"the model ties with the {baseline.get('baseline', '')} baseline"
                if tie
                else f"the model does worse than the {baseline.get('baseline', '')} baseline",
                explanation=str(baseline.get("message", "")).replace(_DOCTOR_HINT, ""),
                next_step="check the labels and features first (a bug is likelier than a hard "
                "task), then the learning rate and the number of epochs",
                evidence={
                    k: baseline[k] for k in ("metric", "model", "baseline_value") if k in baseline
                },
            )
        )
    sanity = record.training.get("sanity")
    overfit = sanity.get("overfit_one_batch") if isinstance(sanity, Mapping) else None
    if isinstance(overfit, Mapping) and overfit.get("passed") is False:
        findings.append(
            Finding(
                kind="overfit_one_batch",
                severity="warning",
                title="the model could not overfit a single batch",
                explanation=str(overfit.get("message", "")),
                next_step="check the labels, the output layer and the input scale; a model "
                "that cannot memorize 32 rows will not learn the whole set",
                evidence={
                    k: overfit[k]
                    for k in ("initial_loss", "final_loss", "steps", "batch_size")
                    if k in overfit
                },
            )
        )
    splits = sanity.get("splits") if isinstance(sanity, Mapping) else None
    warnings = splits.get("warnings") if isinstance(splits, Mapping) else None
    if isinstance(warnings, list) and warnings:
        findings.append(
            Finding(
                kind="split",
                severity="warning",
                title="the data splits look suspicious",
                explanation="; ".join(str(w) for w in warnings),
                next_step="deduplicate the data (data.drop_duplicates) and keep the split "
                "stratified so every split holds every class",
                evidence={"overlap": dict(splits.get("overlap") or {})}
                if isinstance(splits, Mapping)
                else {},
            )
        )
    return findings


def _gate(record: RunRecord) -> list[Finding]:
    gate = record.summary.gate if record.summary is not None else None
    if not isinstance(gate, Mapping) or gate.get("blessed", True):
        return []
    failed = [c for c in gate.get("checks", []) if isinstance(c, Mapping) and not c.get("passed")]
    return [
        Finding(
            kind="gate",
            severity="warning",
            title="the quality gate did not bless the model",
            explanation=str(gate.get("reason", "not blessed")),
            next_step="the model was not promoted; improve it (see the other findings) or "
            "revisit evaluate.thresholds if they are out of reach for this data",
            evidence={
                "failed_checks": [str(c.get("description", c.get("metric"))) for c in failed]
            },
        )
    ]


def _ingest_mode(record: RunRecord) -> list[Finding]:
    mode = record.statistics.get("ingest_mode")
    if not isinstance(mode, Mapping) or mode.get("mode") != "memory":
        return []
    size, threshold = mode.get("size_bytes"), mode.get("threshold_mb")
    if not isinstance(size, int) or not isinstance(threshold, int) or size <= threshold * 2**20:
        return []
    return [
        Finding(
            kind="ingest_memory",
            severity="info",
            title="a source above the streaming threshold was read into memory",
            explanation=str(mode.get("reason", "")),
            next_step="to stream it with bounded memory, remove the settings the reason names or "
            "convert the source to one CSV file; otherwise give ingest the memory it needs",
            evidence={"size_mib": round(size / 2**20, 1), "data.stream_threshold_mb": threshold},
        )
    ]


def _rows_removed(record: RunRecord) -> list[Finding]:
    account = record.statistics.get("row_accounting")
    if not isinstance(account, Mapping):
        return []
    rows = RowAccount.from_dict(account)
    if rows.share_removed <= NOTICE_SHARE:
        return []
    return [
        Finding(
            kind="rows_removed",
            severity="warning",
            title=f"ingest removed {rows.share_removed:.1%} of the rows",
            explanation=f"kept {rows.rows_out} of {rows.rows_in} rows: " + "; ".join(rows.lines()),
            next_step="check that each rule should apply to this data; the setting in brackets "
            "decides it (statistics.html lists every rule's count)",
            evidence={"rows_in": rows.rows_in, "rows_out": rows.rows_out, **rows.removed},
        )
    ]


def _skipped_files(record: RunRecord) -> list[Finding]:
    kind = next((k for k in ("image", "audio", "text_files") if k in record.statistics), None)
    found = record.statistics.get(kind or "", {})
    skipped = int(found.get("skipped_files", 0)) if isinstance(found, Mapping) else 0
    if not skipped:
        return []
    total = skipped + int(found.get("files", 0))
    shown = ", ".join(str(item.get("file")) for item in found.get("skipped", [])[:3])
    return [
        Finding(
            kind="files_skipped",
            severity="warning" if skipped / total > NOTICE_SHARE else "info",
            title=f"ingest skipped {skipped} of {total} files that do not decode",
            explanation=f"data.bad_files: skip left them out, e.g. {shown}",
            next_step="replace or remove the broken files (statistics.html lists them), or set "
            "data.bad_files: fail to stop on the first one",
            evidence={"skipped": skipped, "files": total},
        )
    ]


def _near_duplicates(record: RunRecord) -> list[Finding]:
    near = [f for f in record.split_findings if f.get("check") == "near_duplicates"]
    return [
        Finding(
            kind="near_duplicates",
            severity="warning",
            title=f"{f.get('rows', 0)} validation/test rows nearly copy a train row",
            explanation=str(f.get("message", "")),
            next_step="remove the copies from the source, so validation and test scores "
            "measure generalization; split.near_duplicates: fail stops a run on them",
            evidence={"rows": f.get("rows", 0)},
        )
        for f in near
    ]


def diagnose_run(record: RunRecord) -> DoctorReport:
    """Every finding about ``record``, most severe first; one ``info`` finding when healthy."""
    checks = (
        _failure,
        _anomalies,
        _history_divergence,
        _training_events,
        _input_pipeline,
        _fit,
        _imbalance,
        _untested_classes,
        _ingest_mode,
        _rows_removed,
        _skipped_files,
        _near_duplicates,
        _baseline,
        _gate,
    )
    findings: list[Finding] = [f for check in checks for f in check(record)]
    if all(f.severity == "info" for f in findings):
        test = record.test_metrics
        shown: dict[str, Any] = {
            k: test[k] for k in ("accuracy", "f1_macro", "rmse", "r2") if k in test
        }
        findings.append(
            Finding(
                kind="healthy",
                severity="info",
                title="nothing looks wrong",
                explanation="no failure, anomaly, fit problem, imbalance, slow input or gate "
                "failure was found",
                next_step="compare with the champion in the report, or train on more data",
                evidence=shown,
            )
        )
    findings.sort(key=lambda f: _ORDER[f.severity])
    return DoctorReport(
        run=record.summary.run if record.summary is not None else record.run_dir.name,
        status=record.status,
        findings=findings,
    )


def examine(path: str | Path) -> DoctorReport:
    """:func:`load_run` then :func:`diagnose_run`."""
    return diagnose_run(load_run(path))
