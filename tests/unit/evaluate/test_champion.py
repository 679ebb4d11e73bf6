"""Unit tests for trainpipe.evaluate.champion (champion/challenger promotion decisions)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from trainpipe.errors import ConfigError, TrainpipeError
from trainpipe.evaluate.champion import (
    ChampionComparison,
    _class_counts,
    _macro_scores,
    _resamples,
    compare_classifiers,
    compare_regressors,
    recall_floors,
)
from trainpipe.evaluate.gate import Check

pytestmark = pytest.mark.unit

N_CLASSES = 3


def _labels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, N_CLASSES, n)


def _with_errors(y: np.ndarray, n_wrong: int, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``y`` wrong on exactly ``n_wrong`` rows chosen at random."""
    pred = y.copy()
    wrong = rng.choice(len(y), size=n_wrong, replace=False)
    pred[wrong] = (y[wrong] + 1) % N_CLASSES
    return pred


def _pair(n: int, acc_challenger: float, acc_champion: float, seed: int) -> tuple[np.ndarray, ...]:
    """Labels plus two models with independent random errors at the given accuracies."""
    y = _labels(n, seed)
    rng = np.random.default_rng(seed + 1000)
    challenger = _with_errors(y, round(n * (1 - acc_challenger)), rng)
    champion = _with_errors(y, round(n * (1 - acc_champion)), rng)
    return y, challenger, champion


# ---------------------------------------------------------------------------------- identical


def test_identical_predictions_are_not_promoted_by_mcnemar() -> None:
    y, _, champion = _pair(500, 0.9, 0.8, seed=1)
    result = compare_classifiers(y, champion.copy(), champion)
    assert not result.promote
    assert result.p_value == 1.0
    assert result.difference == 0.0
    assert result.challenger == result.champion == pytest.approx(0.8)
    assert (result.ci_low, result.ci_high) == (None, None)
    assert "identical predictions" in result.reason
    assert result.reason.startswith("keep champion")


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro", "recall_macro", "precision_macro"])
def test_identical_predictions_are_not_promoted_by_bootstrap(metric: str) -> None:
    y, _, champion = _pair(500, 0.9, 0.8, seed=2)
    result = compare_classifiers(y, champion, champion.copy(), method="bootstrap", metric=metric)
    assert not result.promote
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low <= 0.0 <= result.ci_high
    assert result.p_value is None
    assert "identical predictions" in result.reason


# --------------------------------------------------------------------------- clearly better


def test_clearly_better_challenger_is_promoted_by_mcnemar() -> None:
    y, challenger, champion = _pair(1000, 0.95, 0.80, seed=3)
    result = compare_classifiers(y, challenger, champion)
    assert result.promote
    assert result.method == "mcnemar" and result.metric == "accuracy"
    assert result.challenger == pytest.approx(0.95)
    assert result.champion == pytest.approx(0.80)
    assert result.difference == pytest.approx(0.15)
    assert result.p_value is not None and result.p_value < 1e-10
    assert result.reason.startswith("promote:")
    assert "0.95" in result.reason and "0.8" in result.reason


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro", "recall_macro", "precision_macro"])
def test_clearly_better_challenger_is_promoted_by_bootstrap(metric: str) -> None:
    y, challenger, champion = _pair(1000, 0.95, 0.80, seed=3)
    result = compare_classifiers(y, challenger, champion, method="bootstrap", metric=metric)
    assert result.promote
    assert result.ci_low is not None and result.ci_high is not None
    assert 0.0 < result.ci_low < result.difference < result.ci_high
    assert result.difference == pytest.approx(result.challenger - result.champion)
    assert result.reason.startswith("promote:")


def test_clearly_worse_challenger_is_not_promoted() -> None:
    y, challenger, champion = _pair(1000, 0.80, 0.95, seed=4)
    mcnemar = compare_classifiers(y, challenger, champion)
    assert not mcnemar.promote
    assert mcnemar.p_value is not None and mcnemar.p_value < 1e-10  # significant, wrong way
    assert mcnemar.difference < 0
    boot = compare_classifiers(y, challenger, champion, method="bootstrap")
    assert not boot.promote
    assert boot.ci_high is not None and boot.ci_high < 0


# ------------------------------------------------------------------------------ within noise


def test_within_noise_difference_is_not_promoted() -> None:
    y, challenger, champion = _pair(300, 0.81, 0.80, seed=5)
    mcnemar = compare_classifiers(y, challenger, champion)
    assert mcnemar.difference == pytest.approx(0.01)
    assert not mcnemar.promote
    assert mcnemar.p_value is not None and mcnemar.p_value >= 0.05
    assert "alpha 0.05" in mcnemar.reason
    boot = compare_classifiers(y, challenger, champion, method="bootstrap")
    assert not boot.promote
    assert boot.ci_low is not None and boot.ci_high is not None
    assert boot.ci_low < 0.0 < boot.ci_high
    assert "does not lie entirely above" in boot.reason


def test_no_discordant_pairs_with_different_wrong_labels() -> None:
    # Both wrong on the same rows but with different wrong labels: no discordant pair.
    y = np.array([0, 1, 2, 0, 1, 2])
    challenger = np.array([1, 1, 2, 0, 1, 2])
    champion = np.array([2, 1, 2, 0, 1, 2])
    result = compare_classifiers(y, challenger, champion)
    assert not result.promote
    assert result.p_value == 1.0
    assert "no discordant pairs" in result.reason


# ------------------------------------------------------------------------------- regression


def _regression(n: int, noise_challenger: float, noise_champion: float, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return (
        y,
        y + rng.normal(scale=noise_challenger, size=n),
        y + rng.normal(scale=noise_champion, size=n),
    )


@pytest.mark.parametrize("metric", ["rmse", "mae"])
def test_regression_orientation_and_promotion(metric: str) -> None:
    y, better, worse = _regression(1000, 0.5, 1.0, seed=6)
    result = compare_regressors(y, better, worse, metric=metric)
    assert result.challenger < result.champion  # lower error
    assert result.difference == pytest.approx(result.champion - result.challenger)
    assert result.difference > 0
    assert result.promote
    assert result.ci_low is not None and result.ci_low > 0
    assert "lower is better" in result.reason
    reverse = compare_regressors(y, worse, better, metric=metric)
    assert reverse.difference == pytest.approx(-result.difference)
    assert not reverse.promote
    assert reverse.ci_high is not None and reverse.ci_high < 0


def test_regression_point_estimates_match_definitions() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    challenger = np.array([0.0, 1.0, 2.0, 5.0])  # errors 0,0,0,2
    champion = np.array([1.0, 2.0, 3.0, 4.0])  # errors 1,1,1,1
    rmse = compare_regressors(y, challenger, champion, metric="rmse")
    assert rmse.challenger == pytest.approx(1.0)
    assert rmse.champion == pytest.approx(1.0)
    mae = compare_regressors(y, challenger, champion, metric="mae")
    assert mae.challenger == pytest.approx(0.5)
    assert mae.champion == pytest.approx(1.0)
    assert mae.difference == pytest.approx(0.5)


def test_regression_identical_and_within_noise_not_promoted() -> None:
    y, a, b = _regression(300, 1.0, 1.0, seed=7)
    same = compare_regressors(y, a, a.copy())
    assert not same.promote
    assert same.ci_low == same.ci_high == 0.0
    assert "identical predictions" in same.reason
    noise = compare_regressors(y, a, b)
    assert not noise.promote
    assert noise.ci_low is not None and noise.ci_high is not None
    assert noise.ci_low < 0.0 < noise.ci_high


def test_regression_accepts_column_and_multi_output() -> None:
    y, a, b = _regression(200, 0.2, 1.0, seed=8)
    column = compare_regressors(y[:, None], a[:, None], b[:, None])
    flat = compare_regressors(y, a, b)
    assert column == flat
    two = compare_regressors(np.stack([y, y], 1), np.stack([a, a], 1), np.stack([b, b], 1))
    assert two.challenger == pytest.approx(flat.challenger)
    assert two.promote


# --------------------------------------------------------------------------- min_improvement


def test_min_improvement_is_respected_by_mcnemar() -> None:
    y, challenger, champion = _pair(1000, 0.95, 0.80, seed=9)
    assert compare_classifiers(y, challenger, champion, min_improvement=0.15).promote
    blocked = compare_classifiers(y, challenger, champion, min_improvement=0.2)
    assert not blocked.promote
    assert "min_improvement 0.2" in blocked.reason


def test_min_improvement_is_respected_by_bootstrap() -> None:
    y, challenger, champion = _pair(1000, 0.95, 0.80, seed=9)
    base = compare_classifiers(y, challenger, champion, method="bootstrap")
    assert base.ci_low is not None and base.ci_high is not None
    below = compare_classifiers(
        y, challenger, champion, method="bootstrap", min_improvement=base.ci_low - 0.01
    )
    assert below.promote
    # The point estimate clears it, but the whole CI does not: not promoted.
    inside = compare_classifiers(
        y, challenger, champion, method="bootstrap", min_improvement=base.difference - 0.001
    )
    assert not inside.promote
    assert "min_improvement" in inside.reason


def test_min_improvement_is_respected_for_regression() -> None:
    y, better, worse = _regression(1000, 0.5, 1.0, seed=10)
    result = compare_regressors(y, better, worse)
    assert result.ci_low is not None
    assert compare_regressors(y, better, worse, min_improvement=result.ci_low / 2).promote
    assert not compare_regressors(y, better, worse, min_improvement=result.difference).promote


# ----------------------------------------------------------------------------- determinism


def test_bootstrap_is_deterministic_under_seed() -> None:
    y, challenger, champion = _pair(400, 0.84, 0.80, seed=11)
    kwargs: dict[str, Any] = {"method": "bootstrap", "metric": "f1_macro", "n_boot": 500}
    first = compare_classifiers(y, challenger, champion, seed=7, **kwargs)
    again = compare_classifiers(y, challenger, champion, seed=7, **kwargs)
    other = compare_classifiers(y, challenger, champion, seed=8, **kwargs)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    ry, ra, rb = _regression(300, 1.0, 1.1, seed=12)
    assert compare_regressors(ry, ra, rb, seed=3) == compare_regressors(ry, ra, rb, seed=3)


def test_bootstrap_accuracy_matches_naive_paired_bootstrap() -> None:
    y, challenger, champion = _pair(200, 0.85, 0.80, seed=13)
    result = compare_classifiers(y, challenger, champion, method="bootstrap", n_boot=300, seed=5)
    diffs = [
        np.mean(challenger[idx] == y[idx]) - np.mean(champion[idx] == y[idx])
        for block in _resamples(len(y), 300, 5)
        for idx in block
    ]
    low, high = np.quantile(diffs, [0.025, 0.975])
    assert result.ci_low == pytest.approx(low)
    assert result.ci_high == pytest.approx(high)


@pytest.mark.parametrize(
    ("metric", "score"),
    [("f1_macro", f1_score), ("recall_macro", recall_score), ("precision_macro", precision_score)],
)
def test_vectorized_macro_scores_match_sklearn(metric: str, score: Any) -> None:
    rng = np.random.default_rng(14)
    y = rng.integers(0, 5, 40)
    # Some predictions are a class (5) never in y_true; some classes are rare.
    pred = np.where(rng.random(40) < 0.5, y, rng.integers(0, 6, 40))
    idx = next(_resamples(40, 100, 1))
    true_counts, per_model = _class_counts(idx, y, (pred,), 6)
    fast = _macro_scores(metric, true_counts, *per_model[0])
    slow = [score(y[i], pred[i], average="macro", zero_division=0) for i in idx]
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_string_labels_are_supported() -> None:
    y, challenger, champion = _pair(1000, 0.95, 0.80, seed=15)
    names = np.array(["cat", "dog", "bird"])
    as_int = compare_classifiers(y, challenger, champion, method="bootstrap", metric="f1_macro")
    as_str = compare_classifiers(
        names[y], names[challenger], names[champion], method="bootstrap", metric="f1_macro"
    )
    assert as_str.promote
    assert as_str.challenger == pytest.approx(as_int.challenger)
    assert compare_classifiers(list(names[y]), names[challenger], names[champion]).promote


# ----------------------------------------------------------------------------- calibration


def test_mcnemar_false_promotion_rate_is_near_alpha_under_the_null() -> None:
    promoted = 0
    for seed in range(30):
        y, a, b = _pair(500, 0.8, 0.8, seed=100 + seed)
        promoted += compare_classifiers(y, a, b, alpha=0.05).promote
    assert promoted <= 3


def test_bootstrap_false_promotion_rate_is_near_alpha_under_the_null() -> None:
    promoted = 0
    for seed in range(30):
        y, a, b = _pair(500, 0.8, 0.8, seed=200 + seed)
        promoted += compare_classifiers(y, a, b, method="bootstrap", n_boot=500, seed=seed).promote
    assert promoted <= 3


# ------------------------------------------------------------------------------- to_dict


def test_to_dict_is_json_safe_and_round_trips() -> None:
    y, challenger, champion = _pair(300, 0.9, 0.8, seed=16)
    for result in (
        compare_classifiers(y, challenger, champion),
        compare_classifiers(y, challenger, champion, method="bootstrap"),
    ):
        data = result.to_dict()
        assert json.loads(json.dumps(data, allow_nan=False)) == data
        assert set(data) == {
            "metric", "method", "challenger", "champion", "difference", "ci_low", "ci_high",
            "p_value", "alpha", "promote", "reason",
        }  # fmt: skip
        assert type(data["promote"]) is bool and type(data["challenger"]) is float
        assert ChampionComparison.from_dict(data) == result


# ------------------------------------------------------------------------------ recall floors


PER_CLASS = {
    "cat": {"precision": 0.9, "recall": 0.95, "f1": 0.92, "support": 20},
    "dog": {"precision": 0.8, "recall": 0.6, "f1": 0.69, "support": 10},
}


def test_recall_floors_pass_and_fail() -> None:
    checks = recall_floors(PER_CLASS, {"cat": 0.9, "dog": 0.7})
    assert checks == (
        Check("recall[cat]", ">=", 0.9, 0.95, True),
        Check("recall[dog]", ">=", 0.7, 0.6, False),
    )
    assert checks[1].description == "recall[dog] 0.6 < 0.7"


def test_recall_floor_for_a_missing_class_fails() -> None:
    checks = recall_floors(PER_CLASS, {"bird": 0.5})
    assert checks == (Check("recall[bird]", ">=", 0.5, None, False),)
    assert "missing" in checks[0].description


def test_recall_floor_star_applies_to_every_class_and_is_overridable() -> None:
    checks = recall_floors(PER_CLASS, {"*": 0.7})
    assert [(c.metric, c.passed) for c in checks] == [
        ("recall[cat]", True),
        ("recall[dog]", False),
    ]
    relaxed = recall_floors(PER_CLASS, {"*": 0.7, "dog": 0.5, "bird": 0.1})
    assert [(c.metric, c.threshold, c.passed) for c in relaxed] == [
        ("recall[cat]", 0.7, True),
        ("recall[dog]", 0.5, True),
        ("recall[bird]", 0.1, False),
    ]
    empty = recall_floors({}, {"*": 0.5})
    assert empty == (Check("recall[*]", ">=", 0.5, None, False),)


def test_recall_floor_with_missing_or_nan_recall_fails() -> None:
    per_class = {"cat": {"precision": 1.0}, "dog": {"recall": math.nan}}
    checks = recall_floors(per_class, {"*": 0.1})
    assert [c.passed for c in checks] == [False, False]
    assert checks[0].value is None
    assert recall_floors(PER_CLASS, {}) == ()


@pytest.mark.parametrize(
    ("floors", "message"),
    [
        ({"cat": 1.5}, "recall floor for 'cat' must be a number in [0, 1], got 1.5"),
        ({"cat": "high"}, "recall floor for 'cat' must be a number in [0, 1], got 'high'"),
        ({"dog": True}, "recall floor for 'dog'"),
        ([0.5], "must be a mapping"),
    ],
)
def test_recall_floor_validation(floors: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        recall_floors(PER_CLASS, floors)
    assert message in str(info.value)


# ------------------------------------------------------------------------- input validation


Y = np.array([0, 1, 0, 1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "ttest"}, "method 'ttest' is not supported: use one of mcnemar, bootstrap"),
        ({"metric": "auc", "method": "bootstrap"}, "metric 'auc' is not supported"),
        ({"metric": "f1_macro"}, "method 'mcnemar' tests accuracy only, got metric 'f1_macro'"),
        ({"alpha": 0.0}, "alpha must be a number strictly between 0 and 1, got 0.0"),
        ({"alpha": 1}, "alpha must be a number strictly between 0 and 1, got 1"),
        ({"alpha": "0.05"}, "alpha must be a number strictly between 0 and 1, got '0.05'"),
        ({"n_boot": 99}, "n_boot must be an integer >= 100, got 99"),
        ({"n_boot": 500.0}, "n_boot must be an integer >= 100, got 500.0"),
        ({"min_improvement": -0.01}, "min_improvement must be a finite number >= 0, got -0.01"),
        ({"min_improvement": math.nan}, "min_improvement must be a finite number >= 0, got nan"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ],
)
def test_classifier_option_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        compare_classifiers(Y, Y, Y, **kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((Y, Y[:3], Y), "y_true has 4, pred_challenger has 3, pred_champion has 4 rows"),
        ((Y[:0], Y[:0], Y[:0]), "the test set is empty"),
        ((Y, np.ones((4, 3)), Y), "pred_challenger must be one-dimensional"),
        ((Y, Y, np.array(["a", "b", "a", "b"])), "labels must all be of the same type"),
        ((np.array([0.0, 1.0, math.nan, 1.0]), Y, Y), "y_true holds NaN or infinite labels"),
    ],
)
def test_classifier_input_validation(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(TrainpipeError) as info:
        compare_classifiers(*args)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((Y, Y, Y), {"metric": "r2"}, "metric 'r2' is not supported: use one of rmse, mae"),
        ((Y, Y, Y), {"alpha": 1.5}, "alpha must be a number strictly between 0 and 1"),
        ((Y, Y, Y), {"n_boot": 10}, "n_boot must be an integer >= 100, got 10"),
        ((Y, Y[:2], Y), {}, "y_true has 4, pred_challenger has 2, pred_champion has 4 rows"),
        ((Y[:0], Y[:0], Y[:0]), {}, "the test set is empty"),
        ((Y, [0, 1, math.inf, 1], Y), {}, "pred_challenger holds NaN or infinite values"),
        ((Y, Y, ["a", "b", "c", "d"]), {}, "pred_champion must hold numbers"),
        ((Y, np.ones((4, 2)), Y), {}, "inputs must all have the same shape"),
    ],
)
def test_regressor_validation(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainpipeError) as info:
        compare_regressors(*args, **kwargs)
    assert message in str(info.value)
