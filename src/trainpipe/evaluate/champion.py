"""Champion/challenger comparison: promote a new model only when it is better beyond noise.

A quality gate (:mod:`trainpipe.evaluate.gate`) asks whether a model is good enough on its own;
this module asks whether a *challenger* is better than the current *champion* when both are scored
on the **same** test set. Because the rows are shared, the comparison is paired, which is far more
sensitive than comparing two independently estimated metrics:

* ``mcnemar`` (accuracy only): the exact binomial McNemar test on the discordant pairs, the rows
  that exactly one of the two models gets right.
* ``bootstrap``: a paired bootstrap over test rows. Each replicate resamples row indices once and
  scores both models on that same resample; the percentile interval of the difference decides.

Every difference is oriented so that a positive number means the challenger is better: for error
metrics (``rmse``, ``mae``) it is ``champion - challenger``.

:func:`recall_floors` turns per-class recall floors into :class:`~trainpipe.evaluate.gate.Check`
objects, so a challenger that improves the average by sacrificing a class can be refused.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from trainpipe.errors import ConfigError, TrainpipeError
from trainpipe.evaluate.gate import Check

__all__ = [
    "CLASSIFICATION_METRICS",
    "METHODS",
    "REGRESSION_METRICS",
    "ChampionComparison",
    "compare_classifiers",
    "compare_regressors",
    "recall_floors",
]

METHODS: tuple[str, ...] = ("mcnemar", "bootstrap")
CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "f1_macro",
    "recall_macro",
    "precision_macro",
)
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae")

# Index draws materialized per bootstrap chunk: bounds memory (~32 MiB of int64 indices) while
# keeping numpy's per-call overhead negligible. The chunk size depends only on the number of rows,
# so a seed reproduces the same resamples whatever the metric.
_CHUNK_ELEMENTS = 4_000_000


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


def _json_float(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class ChampionComparison:
    """The outcome of comparing a challenger with the champion on the same test set.

    ``difference`` is oriented so that positive means the challenger is better (for error metrics
    it is ``champion - challenger``). ``ci_low``/``ci_high`` are the ``1 - alpha`` percentile
    bootstrap interval of ``difference`` (``None`` for McNemar); ``p_value`` is the exact McNemar
    p-value (``None`` for the bootstrap). ``promote`` is the verdict and ``reason`` explains it in
    one line with the numbers.
    """

    metric: str
    method: str
    challenger: float
    champion: float
    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    alpha: float
    promote: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field (a non-finite number becomes ``None``)."""
        return {
            "metric": self.metric,
            "method": self.method,
            "challenger": _json_float(self.challenger),
            "champion": _json_float(self.champion),
            "difference": _json_float(self.difference),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
            "p_value": _json_float(self.p_value),
            "alpha": self.alpha,
            "promote": self.promote,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChampionComparison:
        """Rebuild a comparison from :meth:`to_dict` output."""

        def number(key: str) -> float:
            value = data.get(key)
            return math.nan if value is None else float(value)

        def optional(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            metric=str(data["metric"]),
            method=str(data["method"]),
            challenger=number("challenger"),
            champion=number("champion"),
            difference=number("difference"),
            ci_low=optional("ci_low"),
            ci_high=optional("ci_high"),
            p_value=optional("p_value"),
            alpha=float(data["alpha"]),
            promote=bool(data["promote"]),
            reason=str(data["reason"]),
        )


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_options(
    *,
    method: str,
    metric: str,
    metrics: tuple[str, ...],
    alpha: float,
    min_improvement: float,
    n_boot: int,
    seed: int,
) -> None:
    if method not in METHODS:
        raise ConfigError(f"method {method!r} is not supported: use one of {', '.join(METHODS)}")
    if metric not in metrics:
        raise ConfigError(f"metric {metric!r} is not supported: use one of {', '.join(metrics)}")
    if method == "mcnemar" and metric != "accuracy":
        raise ConfigError(
            f"method 'mcnemar' tests accuracy only, got metric {metric!r}: "
            "use method='bootstrap' for other metrics"
        )
    if not _is_number(alpha) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    if (
        not _is_number(min_improvement)
        or not math.isfinite(float(min_improvement))
        or min_improvement < 0
    ):
        raise ConfigError(f"min_improvement must be a finite number >= 0, got {min_improvement!r}")
    if not _is_int(n_boot) or n_boot < 100:
        raise ConfigError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")


def _as_vector(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise TrainpipeError(
            f"{name} must be one-dimensional (one predicted label per row), "
            f"got an array of shape {arr.shape}"
        )
    return arr


def _check_same_length(arrays: Mapping[str, np.ndarray]) -> int:
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {count}" for name, count in lengths.items())
        raise TrainpipeError(f"inputs must have one entry per test row, but {described} rows")
    n_rows = next(iter(lengths.values()))
    if n_rows == 0:
        raise TrainpipeError("the test set is empty: there is nothing to compare")
    return n_rows


_NUMERIC_KINDS = frozenset("biuf")


def _encode_labels(arrays: Mapping[str, np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Map the labels of every array to shared integer codes ``0..K-1``."""
    kinds = {
        name: ("numeric" if arr.dtype.kind in _NUMERIC_KINDS else arr.dtype.kind)
        for name, arr in arrays.items()
    }
    if len(set(kinds.values())) > 1:
        described = ", ".join(f"{name} {arr.dtype}" for name, arr in arrays.items())
        raise TrainpipeError(f"labels must all be of the same type, got {described}")
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise TrainpipeError(f"{name} holds NaN or infinite labels")
    joined = np.concatenate(list(arrays.values()))
    try:
        classes, codes = np.unique(joined, return_inverse=True)
    except TypeError as exc:
        raise TrainpipeError(f"labels cannot be compared with each other: {exc}") from exc
    codes = codes.reshape(-1).astype(np.intp)
    n_rows = len(next(iter(arrays.values())))
    parts = [codes[i * n_rows : (i + 1) * n_rows] for i in range(len(arrays))]
    return parts, len(classes)


# --------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------


def _resamples(n_rows: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield ``[chunk, n_rows]`` blocks of bootstrap row indices, ``n_boot`` rows in all."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // n_rows))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield rng.integers(0, n_rows, size=(size, n_rows))
        done += size


def _percentile_ci(diffs: np.ndarray, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(diffs, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def _macro_scores(
    metric: str, true_counts: np.ndarray, pred_counts: np.ndarray, tp: np.ndarray
) -> np.ndarray:
    """Macro precision/recall/F1 per replicate from ``[b, K]`` count arrays.

    Mirrors scikit-learn's ``average="macro"`` with ``zero_division=0``: the average runs over
    the classes present in ``y_true`` or ``y_pred`` of that replicate.
    """
    tp = tp.astype(np.float64)
    if metric == "recall_macro":
        denom = true_counts.astype(np.float64)
    elif metric == "precision_macro":
        denom = pred_counts.astype(np.float64)
    else:  # f1_macro = 2 tp / (2 tp + fp + fn) = 2 tp / (true + pred)
        tp = 2.0 * tp
        denom = (true_counts + pred_counts).astype(np.float64)
    per_class = np.divide(tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = (true_counts + pred_counts) > 0
    return (per_class * present).sum(axis=1) / present.sum(axis=1)


def _class_counts(
    idx: np.ndarray, true_code: np.ndarray, pred_codes: tuple[np.ndarray, ...], n_classes: int
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Per-replicate true counts ``[b, K]`` and, per model, predicted and true-positive counts."""
    size = idx.shape[0]
    offsets = (np.arange(size, dtype=np.intp) * n_classes)[:, None]
    flat = size * n_classes
    shape = (size, n_classes)
    true_flat = (true_code[idx] + offsets).ravel()
    true_counts = np.bincount(true_flat, minlength=flat).reshape(shape)
    per_model: list[tuple[np.ndarray, np.ndarray]] = []
    for pred_code in pred_codes:
        pred_flat = (pred_code[idx] + offsets).ravel()
        correct = (true_code == pred_code)[idx].ravel()
        pred_counts = np.bincount(pred_flat, minlength=flat).reshape(shape)
        tp = np.bincount(true_flat[correct], minlength=flat).reshape(shape)
        per_model.append((pred_counts, tp))
    return true_counts, per_model


def _bootstrap_classifier_diffs(
    metric: str,
    true_code: np.ndarray,
    challenger_code: np.ndarray,
    champion_code: np.ndarray,
    n_classes: int,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """``metric(challenger) - metric(champion)`` on each of ``n_boot`` paired resamples."""
    n_rows = len(true_code)
    diffs: list[np.ndarray] = []
    if metric == "accuracy":
        delta = (challenger_code == true_code).astype(np.int8) - (
            champion_code == true_code
        ).astype(np.int8)
        for idx in _resamples(n_rows, n_boot, seed):
            diffs.append(delta[idx].sum(axis=1, dtype=np.int64) / n_rows)
        return np.concatenate(diffs)
    for idx in _resamples(n_rows, n_boot, seed):
        true_counts, per_model = _class_counts(
            idx, true_code, (challenger_code, champion_code), n_classes
        )
        scores = [_macro_scores(metric, true_counts, pred, tp) for pred, tp in per_model]
        diffs.append(scores[0] - scores[1])
    return np.concatenate(diffs)


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _signed(value: float) -> str:
    return f"{value:+.4g}"


def _scores_phrase(metric: str, challenger: float, champion: float, difference: float) -> str:
    if metric in REGRESSION_METRICS:
        return (
            f"challenger {metric} {_fmt(challenger)} vs champion {_fmt(champion)} "
            f"(improvement {_signed(difference)}, lower is better)"
        )
    return (
        f"challenger {metric} {_fmt(challenger)} vs champion {_fmt(champion)} "
        f"(difference {_signed(difference)})"
    )


def _bootstrap_result(
    *,
    metric: str,
    challenger: float,
    champion: float,
    diffs: np.ndarray,
    alpha: float,
    min_improvement: float,
    n_boot: int,
    identical: bool,
) -> ChampionComparison:
    difference = challenger - champion
    if metric in REGRESSION_METRICS:
        difference = champion - challenger
    ci_low, ci_high = _percentile_ci(diffs, alpha)
    promote = (not identical) and ci_low > min_improvement
    level = f"{100 * (1 - alpha):.4g}%"
    ci = f"{level} paired bootstrap CI [{_fmt(ci_low)}, {_fmt(ci_high)}] over {n_boot} resamples"
    scores = _scores_phrase(metric, challenger, champion, difference)
    if identical:
        reason = f"keep champion: identical predictions; {scores}; {ci}"
    elif promote:
        reason = (
            f"promote: {scores}; {ci} lies entirely above min_improvement {_fmt(min_improvement)}"
        )
    else:
        reason = (
            f"keep champion: {scores}; {ci} does not lie entirely above min_improvement "
            f"{_fmt(min_improvement)}"
        )
    return ChampionComparison(
        metric=metric,
        method="bootstrap",
        challenger=challenger,
        champion=champion,
        difference=difference,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=None,
        alpha=float(alpha),
        promote=promote,
        reason=reason,
    )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

_SKLEARN_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda t, p: float(accuracy_score(t, p)),
    "f1_macro": lambda t, p: float(f1_score(t, p, average="macro", zero_division=0)),
    "recall_macro": lambda t, p: float(recall_score(t, p, average="macro", zero_division=0)),
    "precision_macro": lambda t, p: float(precision_score(t, p, average="macro", zero_division=0)),
}


def _mcnemar(
    true_code: np.ndarray,
    challenger_code: np.ndarray,
    champion_code: np.ndarray,
    *,
    alpha: float,
    min_improvement: float,
) -> ChampionComparison:
    n_rows = len(true_code)
    challenger_right = challenger_code == true_code
    champion_right = champion_code == true_code
    wins = int(np.count_nonzero(challenger_right & ~champion_right))
    losses = int(np.count_nonzero(champion_right & ~challenger_right))
    challenger = float(np.count_nonzero(challenger_right)) / n_rows
    champion = float(np.count_nonzero(champion_right)) / n_rows
    difference = (wins - losses) / n_rows
    scores = _scores_phrase("accuracy", challenger, champion, difference)
    discordant = wins + losses
    if discordant == 0:
        identical = bool(np.array_equal(challenger_code, champion_code))
        what = "identical predictions" if identical else "no discordant pairs"
        reason = f"keep champion: {what} (no discordant pairs, p=1); {scores}"
        p_value = 1.0
        promote = False
    else:
        p_value = float(binomtest(wins, discordant, 0.5, alternative="two-sided").pvalue)
        pairs = (
            f"challenger right on {wins} and champion right on {losses} of {discordant} "
            f"discordant pairs"
        )
        test = f"exact McNemar p={p_value:.3g}"
        if wins <= losses:
            promote = False
            reason = f"keep champion: {scores}; {pairs}; {test}"
        elif p_value >= alpha:
            promote = False
            reason = f"keep champion: {scores}; {pairs}; {test} >= alpha {_fmt(alpha)}"
        elif difference < min_improvement:
            promote = False
            reason = (
                f"keep champion: {scores}; {pairs}; {test} < alpha {_fmt(alpha)} but the "
                f"accuracy gain {_fmt(difference)} < min_improvement {_fmt(min_improvement)}"
            )
        else:
            promote = True
            reason = f"promote: {scores}; {pairs}; {test} < alpha {_fmt(alpha)}"
    return ChampionComparison(
        metric="accuracy",
        method="mcnemar",
        challenger=challenger,
        champion=champion,
        difference=difference,
        ci_low=None,
        ci_high=None,
        p_value=p_value,
        alpha=float(alpha),
        promote=promote,
        reason=reason,
    )


def compare_classifiers(
    y_true: Any,
    pred_challenger: Any,
    pred_champion: Any,
    *,
    method: str = "mcnemar",
    metric: str = "accuracy",
    alpha: float = 0.05,
    min_improvement: float = 0.0,
    n_boot: int = 2000,
    seed: int = 0,
) -> ChampionComparison:
    """Decide whether a challenger classifier should replace the champion on the same test set.

    ``y_true``, ``pred_challenger`` and ``pred_champion`` hold one label per test row (integers,
    strings or booleans, all of one type; a ``[n, 1]`` column is flattened).

    * ``method="mcnemar"`` (``metric="accuracy"`` only): exact two-sided binomial McNemar test on
      the discordant pairs. The challenger is promoted only when it is right on more discordant
      pairs than the champion, ``p < alpha`` and its accuracy gain is ``>= min_improvement``. With
      no discordant pairs ``p_value`` is 1.0 and nothing is promoted.
    * ``method="bootstrap"``: paired bootstrap over test rows for ``accuracy``, ``f1_macro``,
      ``recall_macro`` or ``precision_macro`` (scikit-learn's macro average, ``zero_division=0``).
      The challenger is promoted only when the whole ``1 - alpha`` percentile interval of the
      difference lies above ``min_improvement`` (``ci_low > min_improvement``). ``seed`` makes
      the resamples reproducible.

    Raises :class:`~trainpipe.errors.ConfigError` for a bad option (unknown method or metric,
    ``alpha`` outside (0, 1), ``n_boot < 100``, negative ``min_improvement``) and
    :class:`~trainpipe.errors.TrainpipeError` for unusable inputs (lengths differ, empty, 2-D).
    """
    _check_options(
        method=method,
        metric=metric,
        metrics=CLASSIFICATION_METRICS,
        alpha=alpha,
        min_improvement=min_improvement,
        n_boot=n_boot,
        seed=seed,
    )
    arrays = {
        "y_true": _as_vector(y_true, "y_true"),
        "pred_challenger": _as_vector(pred_challenger, "pred_challenger"),
        "pred_champion": _as_vector(pred_champion, "pred_champion"),
    }
    _check_same_length(arrays)
    (true_code, challenger_code, champion_code), n_classes = _encode_labels(arrays)
    if method == "mcnemar":
        return _mcnemar(
            true_code,
            challenger_code,
            champion_code,
            alpha=float(alpha),
            min_improvement=float(min_improvement),
        )
    score = _SKLEARN_METRICS[metric]
    diffs = _bootstrap_classifier_diffs(
        metric, true_code, challenger_code, champion_code, n_classes, n_boot, seed
    )
    return _bootstrap_result(
        metric=metric,
        challenger=score(true_code, challenger_code),
        champion=score(true_code, champion_code),
        diffs=diffs,
        alpha=float(alpha),
        min_improvement=float(min_improvement),
        n_boot=n_boot,
        identical=bool(np.array_equal(challenger_code, champion_code)),
    )


def _as_float_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrainpipeError(f"{name} must hold numbers: {exc}") from exc
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim not in (1, 2):
        raise TrainpipeError(f"{name} must be 1-D or 2-D, got an array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise TrainpipeError(f"{name} holds NaN or infinite values")
    return arr


def compare_regressors(
    y_true: Any,
    pred_challenger: Any,
    pred_champion: Any,
    *,
    metric: str = "rmse",
    alpha: float = 0.05,
    min_improvement: float = 0.0,
    n_boot: int = 2000,
    seed: int = 0,
) -> ChampionComparison:
    """Decide whether a challenger regressor should replace the champion on the same test set.

    Uses the paired bootstrap over test rows on ``metric`` (``rmse`` or ``mae``). The improvement
    is ``champion_error - challenger_error`` (positive: the challenger is better); the challenger
    is promoted only when the whole ``1 - alpha`` percentile interval of the improvement lies above
    ``min_improvement`` (in the metric's units). Inputs are 1-D or matching ``[n, m]`` arrays,
    whose errors are averaged uniformly over the outputs as in
    :func:`~trainpipe.evaluate.metrics.regression_metrics`.

    Raises :class:`~trainpipe.errors.ConfigError` for a bad option and
    :class:`~trainpipe.errors.TrainpipeError` for unusable inputs.
    """
    _check_options(
        method="bootstrap",
        metric=metric,
        metrics=REGRESSION_METRICS,
        alpha=alpha,
        min_improvement=min_improvement,
        n_boot=n_boot,
        seed=seed,
    )
    arrays = {
        "y_true": _as_float_array(y_true, "y_true"),
        "pred_challenger": _as_float_array(pred_challenger, "pred_challenger"),
        "pred_champion": _as_float_array(pred_champion, "pred_champion"),
    }
    n_rows = _check_same_length(arrays)
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise TrainpipeError(f"inputs must all have the same shape, got {described}")
    truth = arrays["y_true"]

    def row_errors(pred: np.ndarray) -> np.ndarray:
        err = pred - truth
        err = err * err if metric == "rmse" else np.abs(err)
        return err if err.ndim == 1 else err.mean(axis=1)

    challenger_err = row_errors(arrays["pred_challenger"])
    champion_err = row_errors(arrays["pred_champion"])

    def finish(mean_error: np.ndarray | float) -> np.ndarray:
        return np.sqrt(mean_error) if metric == "rmse" else np.asarray(mean_error)

    challenger = float(finish(challenger_err.mean()))
    champion = float(finish(champion_err.mean()))
    diffs: list[np.ndarray] = []
    for idx in _resamples(n_rows, n_boot, seed):
        diffs.append(
            finish(champion_err[idx].mean(axis=1)) - finish(challenger_err[idx].mean(axis=1))
        )
    return _bootstrap_result(
        metric=metric,
        challenger=challenger,
        champion=champion,
        diffs=np.concatenate(diffs),
        alpha=float(alpha),
        min_improvement=float(min_improvement),
        n_boot=n_boot,
        identical=bool(np.array_equal(arrays["pred_challenger"], arrays["pred_champion"])),
    )


def recall_floors(
    per_class: Mapping[str, Mapping[str, float]], floors: Mapping[str, float]
) -> tuple[Check, ...]:
    """Check per-class recall against floors, one :class:`~trainpipe.evaluate.gate.Check` each.

    ``per_class`` is shaped like ``classification_metrics(...)["per_class"]``: class name to a
    mapping holding ``"recall"``. ``floors`` maps a class name to its minimum recall; the key
    ``"*"`` sets the floor for every class in ``per_class`` without a floor of its own (an
    explicit floor overrides ``"*"``). Each check is named ``recall[<class>]`` with op ``>=``.

    Checks come in ``per_class`` order, then one per floored class absent from ``per_class``:
    those fail with ``value=None``, as does a class whose recall is missing or not a number, and
    a ``"*"`` floor when ``per_class`` is empty. A NaN recall fails.

    Raises :class:`~trainpipe.errors.ConfigError` naming the floor when ``floors`` is not a
    mapping of names to numbers in [0, 1].
    """
    if not isinstance(floors, Mapping):
        raise ConfigError(
            f"recall floors must be a mapping of class name to minimum recall, "
            f"got {type(floors).__name__}"
        )
    if not isinstance(per_class, Mapping):
        raise TrainpipeError(
            f"per_class must be a mapping of class name to metrics, got {type(per_class).__name__}"
        )
    spec: dict[str, float] = {}
    for name, floor in floors.items():
        if not isinstance(name, str):
            raise ConfigError(f"recall floor key {name!r} must be a class name (a string) or '*'")
        if not _is_number(floor) or not 0.0 <= float(floor) <= 1.0:
            raise ConfigError(
                f"recall floor for {name!r} must be a number in [0, 1], got {floor!r}"
            )
        spec[name] = float(floor)

    def check(name: str, floor: float, value: float | None) -> Check:
        passed = value is not None and math.isfinite(value) and value >= floor
        return Check(metric=f"recall[{name}]", op=">=", threshold=floor, value=value, passed=passed)

    default = spec.get("*")
    checks: list[Check] = []
    for name, scores in per_class.items():
        key = str(name)
        class_floor = spec.get(key, default)
        if class_floor is None:
            continue
        raw = scores.get("recall") if isinstance(scores, Mapping) else None
        checks.append(check(key, class_floor, float(raw) if _is_number(raw) else None))
    present = {str(name) for name in per_class}
    for name, floor in spec.items():
        if name == "*":
            if not per_class:
                checks.append(check("*", floor, None))
        elif name not in present:
            checks.append(check(name, floor, None))
    return tuple(checks)
