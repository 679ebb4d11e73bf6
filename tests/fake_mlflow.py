"""An in-memory stand-in for ``mlflow.tracking.MlflowClient``: the calls trainpipe's tracking
makes, with MLflow's rules that matter to it (a param's value cannot change, a deleted run is not
searched), and a switch that makes every call fail as an unreachable server does."""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"


@dataclass
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    start_time: int
    status: str = "RUNNING"
    end_time: int | None = None
    lifecycle_stage: str = "active"


@dataclass
class RunData:
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """key -> [(step, value), ...] in logging order."""


@dataclass
class Run:
    info: RunInfo
    data: RunData
    artifacts: dict[str, str] = field(default_factory=dict)


@dataclass
class Metric:
    key: str
    value: float
    timestamp: int
    step: int


_FILTER = re.compile(r"^tags\.`(?P<key>[^`]+)` = (?P<q>['\"])(?P<value>.*)(?P=q)$")


class FakeMlflowClient:
    """What trainpipe calls of ``MlflowClient``, kept in memory; ``fail = True`` makes every call
    raise ConnectionError, ``fail = {"log_batch"}`` only those named."""

    def __init__(self) -> None:
        self.experiments: dict[str, Experiment] = {}
        self.runs: dict[str, Run] = {}
        self.calls: list[str] = []
        self.fail: bool | set[str] = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.clock = itertools.count(1_000)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fail is True or (isinstance(self.fail, set) and name in self.fail):
            raise ConnectionError(f"{name}: connection refused (fake MLflow server is down)")

    # -- experiments ----------------------------------------------------------------------------

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        self._call("get_experiment_by_name")
        return next((e for e in self.experiments.values() if e.name == name), None)

    def create_experiment(self, name: str) -> str:
        self._call("create_experiment")
        if any(e.name == name for e in self.experiments.values()):
            raise RuntimeError(f"RESOURCE_ALREADY_EXISTS: experiment {name!r}")
        experiment_id = str(len(self.experiments) + 1)
        self.experiments[experiment_id] = Experiment(experiment_id, name)
        return experiment_id

    # -- runs -----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, str] | None = None,
        run_name: str | None = None,
    ) -> Run:
        self._call("create_run")
        run_id = f"run{next(self._ids):04d}"
        name = run_name or run_id
        info = RunInfo(run_id, experiment_id, name, start_time or next(self.clock))
        run = Run(info, RunData(tags={**(tags or {}), "mlflow.runName": name}))
        self.runs[run_id] = run
        return run

    def get_run(self, run_id: str) -> Run:
        self._call("get_run")
        if run_id not in self.runs:
            raise LookupError(f"RESOURCE_DOES_NOT_EXIST: run {run_id}")
        return self.runs[run_id]

    def search_runs(
        self, experiment_ids: list[str], filter_string: str = "", max_results: int = 1000
    ) -> list[Run]:
        self._call("search_runs")
        match = _FILTER.match(filter_string)
        assert match is not None or not filter_string, filter_string
        found = [
            run
            for run in self.runs.values()
            if run.info.experiment_id in experiment_ids
            and run.info.lifecycle_stage == "active"
            and (match is None or run.data.tags.get(match["key"]) == match["value"])
        ]
        return found[:max_results]

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        self._call("update_run")
        if status:
            self.runs[run_id].info.status = status

    def delete_run(self, run_id: str) -> None:
        self._call("delete_run")
        self.runs[run_id].info.lifecycle_stage = "deleted"

    def set_terminated(
        self, run_id: str, status: str | None = None, end_time: int | None = None
    ) -> None:
        self._call("set_terminated")
        info = self.runs[run_id].info
        info.status = status or "FINISHED"
        info.end_time = end_time or next(self.clock)

    # -- logging --------------------------------------------------------------------------------

    def log_batch(self, run_id: str, metrics: Any = (), params: Any = (), tags: Any = ()) -> None:
        self._call("log_batch")
        assert len(params) <= 100 and len(tags) <= 100 and len(metrics) <= 1000
        data = self.runs[run_id].data
        for param in params:
            old = data.params.get(param.key)
            if old is not None and old != param.value:
                raise RuntimeError(f"INVALID_PARAMETER_VALUE: changing param {param.key}")
            data.params[param.key] = param.value
        for tag in tags:
            data.tags[tag.key] = tag.value
        for metric in metrics:
            data.metrics.setdefault(metric.key, []).append((metric.step, metric.value))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self._call("get_metric_history")
        return [
            Metric(key, value, 0, step)
            for step, value in self.runs[run_id].data.metrics.get(key, [])
        ]

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._call("log_text")
        self.runs[run_id].artifacts[artifact_file] = text

    # -- reading back ---------------------------------------------------------------------------

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """``[(step, value), ...]`` of a metric."""
        return list(self.runs[run_id].data.metrics.get(key, []))

    def children(self, run_id: str) -> list[Run]:
        """The active runs nested under ``run_id``."""
        return [
            run
            for run in self.runs.values()
            if run.data.tags.get("mlflow.parentRunId") == run_id
            and run.info.lifecycle_stage == "active"
        ]

    def active(self) -> list[Run]:
        """Every run not deleted."""
        return [run for run in self.runs.values() if run.info.lifecycle_stage == "active"]
