"""The ``evaluate`` section: the test-set evaluation, the gate that blesses a model, and the
champion comparison; and the rules of a threshold key (``accuracy_min``, ``loss_max``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from trainpipe.config.problems import Problems

__all__ = [
    "BASELINE_CHOICES",
    "THRESHOLD_FORMS",
    "ChampionConfig",
    "EvaluateConfig",
    "split_threshold_key",
    "threshold_problems",
]

THRESHOLD_SUFFIXES: dict[str, str] = {"_min": ">=", "_max": "<="}
"""A threshold key's suffix and the comparison it asks for."""
THRESHOLD_FORMS = (
    "'<metric>_min' (the metric must be >= the value) or '<metric>_max' (the metric must be "
    "<= the value), e.g. 'accuracy_min' or 'latency_p95_ms_max'"
)
CLASSIFICATION_CHAMPION_METRICS = ("accuracy", "f1_macro", "recall_macro", "precision_macro")
REGRESSION_CHAMPION_METRICS = ("rmse", "mae")
BASELINE_CHOICES = ("stronger", "trivial", "linear")
"""What ``evaluate.baseline`` may name: the stronger of the two baselines, or one of them."""


def split_threshold_key(key: str) -> tuple[str, str] | None:
    """``(metric, op)`` of a threshold key (``accuracy_min`` -> ``("accuracy", ">=")``), or None
    when the key has neither suffix."""
    for suffix, op in THRESHOLD_SUFFIXES.items():
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], op
    return None


def threshold_problems(thresholds: Mapping[str, float]) -> list[str]:
    """What is wrong with a threshold mapping (values are already finite numbers): keys that
    are not ``<metric>_min``/``<metric>_max``, and a ``_min`` above the ``_max`` of its metric."""
    found = [
        f"threshold {key!r} is not a valid threshold name: use {THRESHOLD_FORMS}"
        for key in thresholds
        if not isinstance(key, str) or split_threshold_key(key) is None
    ]
    for key, low in thresholds.items():
        if isinstance(key, str) and key.endswith("_min") and split_threshold_key(key):
            high_key = key[: -len("_min")] + "_max"
            high = thresholds.get(high_key)
            if high is not None and low > high:
                found.append(
                    f"thresholds {key!r} ({low:g}) and {high_key!r} ({high:g}) cannot both hold"
                )
    return found


@dataclass(kw_only=True)
class ChampionConfig:
    """How a blessed model is compared with the current champion on the same test set."""

    enabled: bool = True
    alias: str = "champion"
    method: Literal["mcnemar", "bootstrap"] = "mcnemar"
    """``mcnemar`` (accuracy) or a paired ``bootstrap``; regression always uses the bootstrap."""
    metric: str = "accuracy"
    """accuracy, f1_macro, recall_macro or precision_macro; rmse or mae for regression."""
    alpha: float = 0.05
    min_improvement: float = 0.0

    def check(self, problems: Problems, *, task: str) -> None:
        """A significance level in (0, 1), a metric of the task, a method that fits it."""
        need = problems.need
        need(0 < self.alpha < 1, "evaluate.champion.alpha", "in (0, 1)", self.alpha)
        need(
            self.min_improvement >= 0,
            "evaluate.champion.min_improvement",
            ">= 0",
            self.min_improvement,
        )
        regression = task == "regression"
        metrics = REGRESSION_CHAMPION_METRICS if regression else CLASSIFICATION_CHAMPION_METRICS
        need(
            self.metric in metrics or (regression and self.metric == "accuracy"),
            "evaluate.champion.metric",
            f"one of {', '.join(metrics)}",
            self.metric,
            also=["task"],
        )
        need(
            self.method == "bootstrap" or self.metric == "accuracy",
            "evaluate.champion.method",
            "bootstrap for metrics other than accuracy",
            self.method,
            also=["evaluate.champion.metric"],
        )


@dataclass(kw_only=True)
class EvaluateConfig:
    """Test-set evaluation, the gate that blesses a model, and the champion comparison."""

    thresholds: dict[str, float] = field(default_factory=dict)
    """``<metric>_min`` / ``<metric>_max`` bounds; the model is blessed only if all hold."""
    recall_floors: dict[str, float] = field(default_factory=dict)
    """Per-class recall floors (``"*"`` for every class); part of the blessing."""
    champion: ChampionConfig = field(default_factory=ChampionConfig)
    sensitive_column: str = ""
    """A column to report metrics per group of (bias report); it must be in the data."""
    latency_samples: int = 100
    stream_sample_rows: int = 100_000
    """A streamed test split (``train.stream``) is scored in full for the metrics; the champion
    comparison, the bias report and the regression scatter use a seeded sample of this many
    of its rows (all of them when it has fewer)."""
    baseline: Literal["stronger", "trivial", "linear"] = "stronger"
    """The baseline the model must not do worse than on validation: ``stronger`` (whichever of
    the two below scores better), ``trivial`` (majority class, or the mean for regression) or
    ``linear`` (logistic/ridge regression). Compared on accuracy (classification) or the
    standardized MSE (regression, lower is better); ``train.sanity_checks`` scores them."""
    require_beat_baseline: bool = True
    """The gate does not bless a model that does worse than ``baseline`` on validation (a tie
    passes); ``false`` only flags it in the report and summary."""

    def check(self, problems: Problems, *, task: str, sanity_checks: bool) -> None:
        """Latency samples, threshold keys, recall floors, the champion comparison, and a
        baseline requirement that has baselines to compare with (``train.sanity_checks``)."""
        need = problems.need
        keys = ("evaluate.require_beat_baseline", "train.sanity_checks")
        if self.require_beat_baseline and not sanity_checks and not problems.involves_bad(*keys):
            problems.add(
                keys[0],
                "evaluate.require_beat_baseline is true (the default) but train.sanity_checks is "
                "false, so no baseline is scored for the gate to compare with: set "
                "train.sanity_checks: true, or evaluate.require_beat_baseline: false to bless "
                "without the baseline comparison",
            )
        need(
            self.latency_samples >= 1,
            "evaluate.latency_samples",
            ">= 1",
            self.latency_samples,
        )
        need(
            self.stream_sample_rows >= 1,
            "evaluate.stream_sample_rows",
            ">= 1",
            self.stream_sample_rows,
        )
        if not problems.involves_bad("evaluate.thresholds"):
            for message in threshold_problems(self.thresholds):
                problems.add("evaluate.thresholds", f"evaluate.thresholds: {message}")
        for cls, floor in self.recall_floors.items():
            need(0 <= floor <= 1, f"evaluate.recall_floors.{cls}", "in [0, 1]", floor)
        self.champion.check(problems, task=task)
