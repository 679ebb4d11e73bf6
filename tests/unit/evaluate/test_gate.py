"""Unit tests for trainpipe.evaluate.gate."""

from __future__ import annotations

import json
import math

import pytest

from trainpipe.errors import ConfigError
from trainpipe.evaluate.gate import Check, GateResult, evaluate_gate, validate_thresholds

pytestmark = pytest.mark.unit

METRICS = {"accuracy": 0.97, "f1_macro": 0.9, "latency_p95_ms": 12.0, "per_class": {}}


def test_all_thresholds_hold() -> None:
    result = evaluate_gate(
        METRICS, {"accuracy_min": 0.95, "f1_macro_min": 0.9, "latency_p95_ms_max": 50}
    )
    assert result.blessed
    assert result.reason == "blessed: 3/3 thresholds hold"
    assert [c.passed for c in result.checks] == [True, True, True]
    assert result.checks[0] == Check("accuracy", ">=", 0.95, 0.97, True)


def test_failure_reason_names_metric_and_values() -> None:
    result = evaluate_gate({"accuracy": 0.91}, {"accuracy_min": 0.95})
    assert not result.blessed
    assert result.reason == "not blessed: accuracy 0.91 < 0.95"
    assert result.checks == (Check("accuracy", ">=", 0.95, 0.91, False),)


def test_max_semantics() -> None:
    ok = evaluate_gate({"latency_p95_ms": 50.0}, {"latency_p95_ms_max": 50})
    assert ok.blessed  # equality holds for <=
    slow = evaluate_gate({"latency_p95_ms": 51.5}, {"latency_p95_ms_max": 50})
    assert not slow.blessed
    assert slow.checks[0].op == "<="
    assert slow.reason == "not blessed: latency_p95_ms 51.5 > 50"


def test_min_boundary_is_inclusive() -> None:
    assert evaluate_gate({"accuracy": 0.95}, {"accuracy_min": 0.95}).blessed


def test_reason_shows_enough_digits_to_tell_close_values_apart() -> None:
    result = evaluate_gate({"accuracy": 0.94999}, {"accuracy_min": 0.95})
    assert result.reason == "not blessed: accuracy 0.94999 < 0.95"


def test_missing_metric_fails_with_value_none() -> None:
    result = evaluate_gate(METRICS, {"accuracy_min": 0.9, "roc_auc_min": 0.8})
    assert not result.blessed
    missing = result.checks[1]
    assert missing.metric == "roc_auc"
    assert missing.value is None
    assert not missing.passed
    assert "roc_auc" in result.reason
    assert "missing" in result.reason
    assert "accuracy" not in result.reason  # only failures are listed


def test_non_numeric_and_nan_metrics_fail() -> None:
    result = evaluate_gate({"per_class": {}, "loss": math.nan}, {"per_class_min": 0, "loss_max": 1})
    assert not result.blessed
    assert [c.passed for c in result.checks] == [False, False]
    assert result.checks[0].value is None
    assert "loss is nan" in result.reason


def test_no_thresholds_is_vacuously_blessed() -> None:
    result = evaluate_gate(METRICS, {})
    assert result.blessed
    assert result.checks == ()
    assert "no thresholds configured" in result.reason


def test_bad_key_raises_config_error_naming_key_and_forms() -> None:
    with pytest.raises(ConfigError) as info:
        evaluate_gate(METRICS, {"accuracy": 0.9})
    message = str(info.value)
    assert "'accuracy'" in message
    assert "_min" in message and "_max" in message
    with pytest.raises(ConfigError, match="'_min'"):
        validate_thresholds({"_min": 1.0})


def test_validate_thresholds_values() -> None:
    assert validate_thresholds({"accuracy_min": 1, "loss_max": 0.5}) == {
        "accuracy_min": 1.0,
        "loss_max": 0.5,
    }
    with pytest.raises(ConfigError, match="'accuracy_min' must be a finite number"):
        validate_thresholds({"accuracy_min": "high"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="must be a finite number"):
        validate_thresholds({"accuracy_min": math.inf})
    with pytest.raises(ConfigError, match=r"'accuracy_min' .* 'accuracy_max' .* cannot both hold"):
        validate_thresholds({"accuracy_min": 0.9, "accuracy_max": 0.8})
    with pytest.raises(ConfigError, match="must be a mapping"):
        validate_thresholds([("accuracy_min", 0.9)])  # type: ignore[arg-type]


def test_to_dict_is_json_safe_and_round_trips() -> None:
    result = evaluate_gate(
        {"accuracy": 0.91, "loss": math.nan}, {"accuracy_min": 0.95, "loss_max": 1, "auc_min": 0.5}
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["blessed"] is False
    assert data["reason"] == result.reason
    assert data["checks"][0] == {
        "metric": "accuracy",
        "op": ">=",
        "threshold": 0.95,
        "value": 0.91,
        "passed": False,
        "description": "accuracy 0.91 < 0.95",
    }
    assert data["checks"][1]["value"] is None
    rebuilt = GateResult.from_dict(data)
    assert rebuilt.blessed is False
    assert rebuilt.checks[0] == result.checks[0]
