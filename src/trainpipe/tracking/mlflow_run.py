"""One pipeline run as one MLflow run, through MLflow's client; tracking never fails training.

A :class:`Tracking` holds one process's view of the pipeline's MLflow run: the run id, and how
many MLflow calls failed. Every stage runs in a process of its own, so each one finds the run
again (:meth:`Tracking.open`): by the id a trained model recorded, else by the tag
``kfp.run_id`` (the pipeline run id), creating the run when no stage has yet. Two processes that
create it at once both look again, keep the older run and delete their own, so the stages of a
pipeline run always meet in one MLflow run.

Every call goes through :meth:`Tracking.guard`: an exception is logged as one warning line and
counted (:attr:`Tracking.failures`), never raised. After :data:`GIVE_UP_AFTER` failures in a row
the process stops calling MLflow (a down server would otherwise cost a timeout per epoch), and
each call it skips is counted too. MLflow's own HTTP retries are bounded for the same reason
(:data:`HTTP_DEFAULTS`, unless the environment sets them).

The client is injected (tests pass an in-memory one); only :meth:`Tracking.for_config`, the
outermost call, builds an ``MlflowClient``, importing mlflow then and only then.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from trainpipe.config import RunConfig
from trainpipe.config.tracking import masked_uri
from trainpipe.console import print_line

__all__ = [
    "GIVE_UP_AFTER",
    "HTTP_DEFAULTS",
    "INSTALL_HINT",
    "KFP_RUN_TAG",
    "PARENT_TAG",
    "Tracking",
    "mlflow_client",
]

T = TypeVar("T")
Log = Callable[[str], None]

INSTALL_HINT = "pip install 'trainpipe[mlflow]'"
KFP_RUN_TAG = "kfp.run_id"
"""The pipeline run id (KFP's): how every stage of a pipeline run finds its MLflow run."""
NAME_TAG = "trainpipe.name"
PARENT_TAG = "mlflow.parentRunId"
"""MLflow's tag for a nested run (a tuning trial under its pipeline run)."""
GIVE_UP_AFTER = 2
"""Failed calls in a row after which a process stops calling MLflow."""
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
"""MLflow's HTTP retry settings unless the environment sets them: its defaults retry a call for
about four minutes, which a training epoch should not wait for."""
# MLflow's limits on one log_batch request and on a value.
MAX_PARAMS = 100
MAX_METRICS = 1000
MAX_TAGS = 100
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` for tracking URI ``uri``, with bounded HTTP retries.

    Raises:
        ImportError: mlflow is not installed (the message says how to install it).
    """
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ImportError(
            f"tracking.mlflow is set but the mlflow package is not installed: {INSTALL_HINT}"
        ) from exc
    return MlflowClient(tracking_uri=uri)


def metric_key(name: str) -> str:
    """``name`` as MLflow takes a metric, param or tag key (other characters become ``_``)."""
    return _KEY_CHARS.sub("_", str(name))[:MAX_KEY] or "_"


def now_ms() -> int:
    """The time as MLflow records it: milliseconds since the epoch."""
    return int(time.time() * 1000)


class Tracking:
    """One process's calls to the pipeline's MLflow run; no method raises.

    Build it with :meth:`for_config` (or :meth:`off`), then :meth:`open` the run. A tracking
    that is off, or whose run could not be opened, does nothing; in the second case each call
    it skips counts as a failure, so the count says how much of the run is missing.
    """

    def __init__(
        self,
        client: Any,
        *,
        experiment: str,
        uri: str = "",
        log: Log = print_line,
        enabled: bool = True,
    ) -> None:
        self.client = client
        self.experiment = experiment
        self.uri = masked_uri(uri)
        self.log = log
        self.enabled = enabled
        self.mlflow_run_id = ""
        """The pipeline's MLflow run; empty until opened (or when opening failed)."""
        self.experiment_id = ""
        self.failures = 0
        """MLflow calls that failed, and calls skipped after tracking gave up or had no run."""
        self.errors: list[str] = []
        """The first few failures' messages."""
        self._in_a_row = 0
        self._gave_up = False

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def off(cls) -> Tracking:
        """A tracking that does nothing (``tracking.mlflow`` is empty)."""
        return cls(None, experiment="", enabled=False, log=lambda line: None)

    @classmethod
    def for_config(
        cls, config: RunConfig, *, client: Any = None, log: Log = print_line
    ) -> Tracking:
        """The tracking ``config.tracking`` asks for: off, or MLflow through ``client`` (built
        from ``tracking.mlflow`` when None). Without the mlflow package it warns, with the
        install command, and counts what it cannot track."""
        settings = config.tracking
        if not settings.enabled:
            return cls.off()
        tracking = cls(
            client,
            experiment=settings.experiment_name(config.name),
            uri=settings.mlflow,
            log=log,
        )
        if client is None:
            try:
                tracking.client = mlflow_client(settings.mlflow)
            except ImportError as exc:
                tracking._fail("start", exc)
                tracking._give_up()
        return tracking

    # -- the pipeline's run -----------------------------------------------------------------

    def open(
        self,
        *,
        run_id: str = "",
        mlflow_run_id: str = "",
        run_name: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Find the pipeline's MLflow run, or create it; return its id ("" when that failed).

        ``mlflow_run_id``: the run, as a stage before recorded it (a trained model). Otherwise
        the run tagged ``kfp.run_id`` = ``run_id`` in the experiment, created (with ``tags``)
        when there is none; without a ``run_id``, a new run. A finished or failed run is set
        running again: a later stage (or a retried one) appends to it.
        """
        if not self.enabled:
            return ""

        def resolve() -> str:
            if mlflow_run_id:
                self._reopen(self.client.get_run(mlflow_run_id))
                return mlflow_run_id
            self.experiment_id = self._experiment_id()
            return self._find_or_create(run_id, run_name, dict(tags or {}))

        self.mlflow_run_id = self.guard("open the run", resolve) or ""
        return self.mlflow_run_id

    def attach(self, mlflow_run_id: str) -> None:
        """Log to ``mlflow_run_id`` without asking the server about it (a training process,
        given the run its launcher opened)."""
        if self.enabled:
            self.mlflow_run_id = mlflow_run_id

    def _experiment_id(self) -> str:
        client = self.client
        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is None:
            try:
                return str(client.create_experiment(self.experiment))
            except Exception:  # another stage created it first
                experiment = client.get_experiment_by_name(self.experiment)
                if experiment is None:
                    raise
        if getattr(experiment, "lifecycle_stage", "active") == "deleted":
            raise RuntimeError(
                f"MLflow experiment {self.experiment!r} is deleted: restore it "
                "(mlflow experiments restore) or set tracking.experiment to another name"
            )
        return str(experiment.experiment_id)

    def _find_or_create(self, run_id: str, run_name: str, tags: dict[str, str]) -> str:
        searchable = bool(run_id) and not ("'" in run_id and '"' in run_id)
        if searchable:
            found = self._runs_of(run_id)
            if found:
                self._reopen(found[0])
                return str(found[0].info.run_id)
        if run_id:
            tags[KFP_RUN_TAG] = run_id
        created = self.client.create_run(
            self.experiment_id,
            start_time=now_ms(),
            tags={key: _tag_text(value) for key, value in tags.items()},
            run_name=run_name or None,
        )
        mine = str(created.info.run_id)
        if searchable:
            # Another process may have created one too: both look again and keep the oldest.
            found = self._runs_of(run_id)
            if found and str(found[0].info.run_id) != mine:
                self.client.delete_run(mine)
                self._reopen(found[0])
                return str(found[0].info.run_id)
        return mine

    def _runs_of(self, run_id: str) -> list[Any]:
        quote = '"' if "'" in run_id else "'"
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{KFP_RUN_TAG}` = {quote}{run_id}{quote}",
            max_results=50,
        )
        return sorted(runs, key=lambda run: (int(run.info.start_time or 0), str(run.info.run_id)))

    def _reopen(self, run: Any) -> None:
        if run.info.status != "RUNNING":
            self.client.update_run(run.info.run_id, status="RUNNING")

    # -- logging ----------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any], *, run: str = "") -> None:
        """Log ``params`` (values as text, cut to MLflow's limit) to the run (or ``run``)."""
        from_params = [(metric_key(k), _param_text(v)) for k, v in params.items()]
        self._batch("log params", run, params=from_params)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        *,
        step: int = 0,
        run: str = "",
        timestamp: int | None = None,
    ) -> None:
        """Log ``metrics`` at ``step`` (non-numbers left out) to the run (or ``run``)."""
        stamp = now_ms() if timestamp is None else timestamp
        rows = [
            (metric_key(k), float(v), stamp, int(step))
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        self._batch("log metrics", run, metrics=rows)

    def logged_steps(self, key: str, *, run: str = "") -> set[int]:
        """The steps at which metric ``key`` is logged in the run (or ``run``); empty when
        there are none or MLflow could not say (counted as a failure)."""
        target = run or self.mlflow_run_id
        if not self._ready(target, f"read {key}'s history"):
            return set()
        history = self.guard(
            f"read {key}'s history",
            lambda: self.client.get_metric_history(target, metric_key(key)),
        )
        return {int(metric.step) for metric in history or ()}

    def log_history(self, history: Iterable[tuple[str, float, int]], *, run: str = "") -> None:
        """Log ``(key, value, step)`` triples to the run (or ``run``)."""
        stamp = now_ms()
        rows = [(metric_key(k), float(v), stamp, int(s)) for k, v, s in history]
        self._batch("log metrics", run, metrics=rows)

    def set_tags(self, tags: Mapping[str, Any], *, run: str = "") -> None:
        """Set ``tags`` (values as text) on the run (or ``run``)."""
        self._batch("set tags", run, tags=[(metric_key(k), _tag_text(v)) for k, v in tags.items()])

    def log_text(self, text: str, artifact_file: str, *, run: str = "") -> None:
        """Store ``text`` as the artifact ``artifact_file`` (``reports/report.html``)."""
        target = run or self.mlflow_run_id
        if self._ready(target, f"store {artifact_file}"):
            self.guard(
                f"store {artifact_file}", lambda: self.client.log_text(target, text, artifact_file)
            )

    def finish(
        self, status: str = "FINISHED", *, run: str = "", end_time: int | None = None
    ) -> None:
        """End the run (or ``run``) as ``status``: FINISHED, FAILED or KILLED."""
        target = run or self.mlflow_run_id
        if self._ready(target, "end the run"):
            self.guard(
                f"end the run as {status}",
                lambda: self.client.set_terminated(target, status=status, end_time=end_time),
            )

    def start_child(
        self, *, name: str, tags: Mapping[str, Any], start_time: int | None = None
    ) -> str:
        """Create a run nested under the pipeline's run; its id ("" when that failed)."""
        if not self._ready(self.mlflow_run_id, f"start {name}"):
            return ""

        def create() -> str:
            if not self.experiment_id:
                self.experiment_id = str(self.client.get_run(self.mlflow_run_id).info.experiment_id)
            nested = {PARENT_TAG: self.mlflow_run_id, **tags}
            run = self.client.create_run(
                self.experiment_id,
                start_time=now_ms() if start_time is None else start_time,
                tags={metric_key(k): _tag_text(v) for k, v in nested.items()},
                run_name=name,
            )
            return str(run.info.run_id)

        return self.guard(f"start {name}", create) or ""

    def _batch(
        self,
        what: str,
        run: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        metrics: Sequence[tuple[str, float, int, int]] = (),
        tags: Sequence[tuple[str, str]] = (),
    ) -> None:
        target = run or self.mlflow_run_id
        if not (params or metrics or tags) or not self._ready(target, what):
            return

        def send() -> None:
            from mlflow.entities import Metric, Param, RunTag

            for start in range(0, len(params), MAX_PARAMS):
                chunk = [Param(k, v) for k, v in params[start : start + MAX_PARAMS]]
                self.client.log_batch(target, params=chunk)
            for start in range(0, len(metrics), MAX_METRICS):
                rows = metrics[start : start + MAX_METRICS]
                self.client.log_batch(target, metrics=[Metric(*row) for row in rows])
            for start in range(0, len(tags), MAX_TAGS):
                chunk_tags = [RunTag(k, v) for k, v in tags[start : start + MAX_TAGS]]
                self.client.log_batch(target, tags=chunk_tags)

        self.guard(what, send)

    # -- failures ---------------------------------------------------------------------------

    def guard(self, what: str, action: Callable[[], T]) -> T | None:
        """``action()``, or None when it raised (logged and counted) or tracking gave up."""
        if not self.enabled:
            return None
        if self._gave_up:
            self.failures += 1
            return None
        try:
            value = action()
        except Exception as exc:  # tracking must never fail training
            self._fail(what, exc)
            self._in_a_row += 1
            if self._in_a_row >= GIVE_UP_AFTER:
                self._give_up()
            return None
        self._in_a_row = 0
        return value

    def _ready(self, target: str, what: str) -> bool:
        """Whether there is a run to call MLflow for; a call without one is counted."""
        if not self.enabled:
            return False
        if not target:
            self.failures += 1
            if not self.errors:
                self._note(f"{what}: no MLflow run is open")
            return False
        return True

    def _fail(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        text = " ".join(str(exc).split()) or type(exc).__name__
        if len(text) > 300:
            text = text[:297] + "..."
        self._note(f"{what}: {text}")
        self.log(
            f"[trainpipe] warning: tracking: MLflow could not {what} ({self.uri}): {text}; "
            "training goes on"
        )

    def _note(self, message: str) -> None:
        if len(self.errors) < 3:
            self.errors.append(message)

    def _give_up(self) -> None:
        if not self._gave_up:
            self._gave_up = True
            self.log(
                "[trainpipe] warning: tracking: MLflow calls are skipped for the rest of this "
                "process (each one counted as a failure)"
            )

    def summary(self) -> dict[str, Any]:
        """``mlflow_run_id``, ``experiment``, ``uri`` and the ``failures`` count (with the
        first ``errors``), for a stage record or ``metrics.json``; empty when tracking is off."""
        if not self.enabled:
            return {}
        summary: dict[str, Any] = {
            "mlflow_run_id": self.mlflow_run_id,
            "experiment": self.experiment,
            "uri": self.uri,
            "failures": self.failures,
        }
        if self.errors:
            summary["errors"] = list(self.errors)
        return summary

    def add_failures(self, count: int, errors: Iterable[str] = ()) -> None:
        """Count ``count`` failures another process had (a training job's) as this one's."""
        self.failures += max(0, int(count))
        for message in errors:
            self._note(str(message))


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None or isinstance(value, list | dict | tuple):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_PARAM_VALUE else text[: MAX_PARAM_VALUE - 3] + "..."


def _tag_text(value: Any) -> str:
    text = value if isinstance(value, str) else _param_text(value)
    return text if len(text) <= MAX_TAG_VALUE else text[: MAX_TAG_VALUE - 3] + "..."
