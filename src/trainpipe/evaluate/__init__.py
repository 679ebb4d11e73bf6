"""Model evaluation: metrics, latency, the quality gate and the HTML report.

Everything here is plain Python on top of numpy and scikit-learn; nothing imports ``kfp``.
"""

from __future__ import annotations

from trainpipe.evaluate.gate import Check, GateResult, evaluate_gate, validate_thresholds
from trainpipe.evaluate.latency import measure_latency
from trainpipe.evaluate.metrics import classification_metrics, regression_metrics
from trainpipe.evaluate.report import render_report

__all__ = [
    "Check",
    "GateResult",
    "classification_metrics",
    "evaluate_gate",
    "measure_latency",
    "regression_metrics",
    "render_report",
    "validate_thresholds",
]
