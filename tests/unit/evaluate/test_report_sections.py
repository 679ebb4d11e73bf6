"""The full run report: every section is there and its charts hold what the inputs say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from html_tree import Node, parse_html
from trainpipe.config import ModelConfig, RunConfig
from trainpipe.data.dataset import Schema, write_dataset
from trainpipe.evaluate.curves import binary_curves
from trainpipe.evaluate.report import MAX_SCATTER_POINTS, ReportDetails, render_report
from trainpipe.evaluate.stages import evaluate_model, write_report
from trainpipe.models import build_model
from trainpipe.reporting.values import format_number
from trainpipe.train.artifacts import load_model, save_model
from trainpipe.train.data import Preprocess
from trainpipe.train.sanity import compare_with_baseline

pytestmark = pytest.mark.unit

SECTIONS = (
    "section-loss",
    "section-metric-curves",
    "section-roc-pr",
    "section-predicted-actual",
    "section-misclassified",
    "section-latency",
    "section-resources",
    "section-sanity",
    "section-splits",
)
HISTORY = [
    {"epoch": float(e), "train_loss": 1.0 / e, "val_loss": 1.1 / e, "train_accuracy": 0.5 + e / 20,
     "val_accuracy": 0.45 + e / 20, "learning_rate": 0.01, "seconds": 1.0,
     "samples_per_second": 100.0, "data_wait_seconds": 0.1}
    for e in range(1, 6)
]  # fmt: skip
RESOURCES = [
    {"seconds": float(t), "rank": r, "cpu_percent": 50.0 + t, "rss_bytes": 2**20 * (100 + t),
     "gpu_utilization_percent": None, "gpu_memory_used_bytes": None}
    for t in range(4)
    for r in (0, 1)
] + [{"seconds": 4.0, "rank": 0, "cpu_percent": 60.0, "rss_bytes": 2**20 * 104,
      "gpu_utilization_percent": 30.0, "gpu_memory_used_bytes": 2**30}]  # fmt: skip


def _series(svg: Node) -> dict[str, int]:
    """Points per polyline of a chart, by series name."""
    return {
        str(p.attrs["data-series"]): len((p.attrs["points"] or "").split())
        for p in svg.iter("polyline")
    }


def _bins(svg: Node) -> list[int]:
    return [int(str(r.attrs["data-count"])) for r in svg.by_class("bin", "rect")]


def test_render_report_with_details_draws_every_section_from_its_inputs() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 200)
    scores = np.clip(y_true * 0.6 + rng.normal(0.2, 0.25, 200), 0, 1)
    curves = binary_curves(y_true, scores, max_points=50)
    latencies = list(rng.gamma(2.0, 1.0, 37))
    shape = [1, 3, 4]
    wrong = [
        {"row": i, "true": "yes", "pred": "no", "pixels": list(rng.normal(size=12))}
        for i in range(5)
    ]
    confusion = [[90, 10], [15, 85]]
    checks = {
        "overfit_one_batch": {"passed": False, "message": "stuck at 0.69"},
        "baselines": {"majority": {"accuracy": 0.5}, "linear": {"accuracy": 0.8}},
    }
    per_class = {
        "no": {"precision": 0.86, "recall": 0.9, "f1": 0.88, "support": 100},
        "yes": {"precision": 0.89, "recall": 0.85, "f1": 0.87, "support": 100},
    }
    details = ReportDetails(
        task="classification",
        n_classes=2,
        roc=curves["roc"],
        pr=curves["pr"],
        misclassified=wrong,
        image_shape=shape,
        latencies_ms=latencies,
        resources=RESOURCES,
        sanity=checks,
        baseline=compare_with_baseline(checks, [{"val_accuracy": 0.4}], task="classification"),
        splits={"train": {"rows": 700, "class_balance": {"no": 350, "yes": 350}},
                "validation": {"rows": 150, "class_balance": {"no": 75, "yes": 75}},
                "test": {"rows": 200, "class_balance": {"no": 100, "yes": 100}},
                "overlap": {"validation": 3}, "warnings": ["3 validation rows also in train"]},
    )  # fmt: skip
    html = render_report(
        title="run",
        metrics={"accuracy": 0.875, "per_class": per_class},
        history=HISTORY,
        confusion=confusion,
        labels=["no", "yes"],
        gate=None,
        details=details,
    )
    root = parse_html(html)
    for section in SECTIONS:
        assert root.find_id(section).tag == "section"

    assert _series(root.find_id("loss-curve")) == {"train_loss": 5, "val_loss": 5}
    assert _series(root.find_id("metric-curve")) == {"train_accuracy": 5, "val_accuracy": 5}

    cells = root.find_id("confusion-heatmap").by_class("cell", "rect")
    assert [(c.attrs["data-true"], c.attrs["data-pred"], c.attrs["data-count"]) for c in cells] == [
        ("no", "no", "90"), ("no", "yes", "10"), ("yes", "no", "15"), ("yes", "yes", "85")
    ]  # fmt: skip

    roc = _series(root.find_id("roc-curve"))
    assert sorted(roc.values()) == [2, len(curves["roc"]["fpr"])]
    assert len(curves["roc"]["fpr"]) <= 50
    assert f"AUC {curves['roc']['auc']:.3f}" in root.find_id("roc-curve").all_text()
    assert list(_series(root.find_id("pr-curve")).values()) == [len(curves["pr"]["recall"])]

    grid = root.find_id("misclassified-grid")
    samples = grid.by_class("sample", "g")
    assert len(samples) == 5
    assert all(len(s.by_class("px", "rect")) == 12 for s in samples)
    assert {(s.attrs["data-true"], s.attrs["data-pred"]) for s in samples} == {("yes", "no")}

    bars = root.find_id("per-class-chart").by_class("bar", "rect")
    assert len(bars) == 6
    assert {(b.attrs["data-group"], b.attrs["data-series"]): float(str(b.attrs["data-value"]))
            for b in bars}[("yes", "recall")] == 0.85  # fmt: skip

    counts = _bins(root.find_id("latency-histogram"))
    assert len(counts) == 20 and sum(counts) == 37

    cpu = _series(root.find_id("resource-cpu"))
    assert cpu == {"cpu % rank 0": 5, "cpu % rank 1": 4, "gpu % rank 0": 1}
    memory = _series(root.find_id("resource-memory"))
    assert memory == {"rss MiB rank 0": 5, "rss MiB rank 1": 4, "gpu MiB rank 0": 1}

    sanity = root.find_id("section-sanity")
    text = sanity.all_text()
    assert "does worse than the linear baseline" in text
    stronger = "the stronger of majority 0.5 and linear 0.8"
    assert f"validation accuracy 0.4 is below the linear baseline's 0.8 ({stronger})" in text
    assert "overfit one batch: failed" in sanity.all_text()
    assert len([r for r in root.find_id("baseline-scores").iter("tr") if r.iter("td")]) == 2

    rows = [r for r in root.find_id("split-table").iter("tr") if r.iter("td")]
    table = [[td.all_text() for td in r.iter("td")] for r in rows]
    assert table == [["700", "350", "350"], ["150", "75", "75"], ["200", "100", "100"]]
    assert "3 rows also in train" in root.find_id("split-overlap").all_text()


def test_sections_without_data_say_why_instead_of_vanishing() -> None:
    details = ReportDetails(task="classification", n_classes=3)
    root = parse_html(
        render_report(
            title="t",
            metrics={},
            history=[],
            confusion=None,
            labels=None,
            gate=None,
            details=details,
        )
    )
    assert "3 classes" in root.find_id("section-roc-pr").all_text()
    assert "Not a regression task" in root.find_id("section-predicted-actual").all_text()
    assert "Not image data" in root.find_id("section-misclassified").all_text()
    resources = root.find_id("section-resources")
    assert "No resource samples were recorded" in resources.all_text()
    assert root.find_id("resource-cpu").iter("polyline") == []
    assert _bins(root.find_id("latency-histogram")) == []
    assert "No latency was measured" in root.find_id("section-latency").all_text()
    assert "No split report" in root.find_id("section-splits").all_text()
    assert "No baseline comparison" in root.find_id("section-sanity").all_text()


def _image_run(tmp_path: Path) -> tuple[RunConfig, str, str, pd.DataFrame]:
    """An untrained binary CNN on 2x3 images, its metrics.json and a 60-row test split."""
    torch.manual_seed(3)
    model_config = ModelConfig(kind="cnn", channels=[2], hidden=[4], image_shape=[1, 2, 3])
    features = [f"p{i}" for i in range(6)]
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 6)), columns=features)
    frame["label"] = np.where(frame["p0"] + frame["p5"] > 0, "b", "a")
    schema = Schema(label="label", task="classification", features=features, classes=["a", "b"])
    test = str(tmp_path / "test")
    write_dataset(test, frame, schema)
    model_dir = str(tmp_path / "model")
    sanity = {
        "baselines": {"majority": {"accuracy": 0.55, "f1_macro": 0.35}},
        "overfit_one_batch": {"passed": True, "message": "ok"},
        "splits": {"train": {"rows": 300, "class_balance": {"a": 150, "b": 150}},
                   "validation": {"rows": 60, "class_balance": {"a": 30, "b": 30}},
                   "overlap": {"validation": 0}, "warnings": []},
    }  # fmt: skip
    save_model(
        model_dir,
        build_model(model_config, 6, 2),
        model_config=model_config,
        task="classification",
        label="label",
        preprocess=Preprocess(features=features, mean=[0.0] * 6, std=[1.0] * 6, classes=["a", "b"]),
        metrics={"history": HISTORY, "final": HISTORY[-1], "resources": RESOURCES[:4],
                 "sanity": sanity},
    )  # fmt: skip
    config = RunConfig.from_dict(
        {"name": "img", "task": "classification", "data": {"source": "builtin:digits",
         "label": "label"}, "evaluate": {"latency_samples": 9,
         "champion": {"enabled": False}, "require_beat_baseline": True}}
    )  # fmt: skip
    return config, model_dir, test, frame


def test_evaluate_model_report_for_an_image_run(tmp_path: Path) -> None:
    config, model_dir, test, frame = _image_run(tmp_path)
    evaluation = evaluate_model(config, model_dir, test)
    model = load_model(model_dir)
    truth = (frame["label"] == "b").to_numpy().astype(int)
    wrong = int((model.predict(frame) != truth).sum())

    # Last val_accuracy 0.7 against the majority class's 0.55: flagged as beating it, gated too.
    assert evaluation.baseline is not None and evaluation.baseline["beats"] is True
    assert evaluation.gate is not None and evaluation.gate.blessed
    assert [c.against for c in evaluation.gate.checks] == ["majority baseline"]
    assert evaluation.to_dict()["baseline"]["baseline"] == "majority"

    root = parse_html(write_report(evaluation, title="img", validation=None))
    for section in SECTIONS:
        root.find_id(section)
    samples = root.find_id("misclassified-grid").by_class("sample", "g") if wrong else []
    assert len(samples) == min(wrong, 16)
    assert all(len(s.by_class("px", "rect")) == 6 for s in samples)
    roc_points = len(evaluation.details["curves"]["roc"]["fpr"])
    assert roc_points in _series(root.find_id("roc-curve")).values()
    assert sum(_bins(root.find_id("latency-histogram"))) == 9
    assert _series(root.find_id("resource-cpu")) == {"cpu % rank 0": 2, "cpu % rank 1": 2}
    cells = root.find_id("confusion-heatmap").by_class("cell", "rect")
    assert sum(int(str(c.attrs["data-count"])) for c in cells) == 60
    split_rows = [r for r in root.find_id("split-table").iter("tr") if r.iter("td")]
    assert [r.iter("th")[0].all_text() for r in split_rows] == ["train", "validation", "test"]
    test_row = [td.all_text() for td in split_rows[2].iter("td")]
    assert test_row == ["60", str(int((frame["label"] == "a").sum())), str(int(truth.sum()))]
    json.dumps(evaluation.to_dict())  # evaluation.json stays serializable


def _points(svg: Node) -> list[str]:
    """The tooltips of a scatter chart's points: ``series: x, y``."""
    return [c.iter("title")[0].all_text() for c in svg.by_class("point", "circle")]


def test_evaluate_model_report_for_a_regression_run_plots_predicted_against_actual(
    tmp_path: Path,
) -> None:
    torch.manual_seed(5)
    model_config = ModelConfig(kind="mlp", hidden=[4], dropout=0.0)
    features = ["a", "b"]
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(30, 2)), columns=features)
    frame["y"] = 3.0 * frame["a"] - frame["b"] + 10.0
    schema = Schema(label="y", task="regression", features=features)
    test = str(tmp_path / "test")
    write_dataset(test, frame, schema)
    model_dir = str(tmp_path / "model")
    save_model(
        model_dir,
        build_model(model_config, 2, 1),
        model_config=model_config,
        task="regression",
        label="y",
        preprocess=Preprocess(features=features, mean=[0.0, 0.0], std=[1.0, 1.0],
                              target_mean=10.0, target_std=3.0),
        metrics={"history": HISTORY, "final": HISTORY[-1]},
    )  # fmt: skip
    config = RunConfig.from_dict(
        {"name": "reg", "task": "regression", "data": {"source": "builtin:diabetes",
         "label": "y"}, "evaluate": {"latency_samples": 3, "champion": {"enabled": False}}}
    )  # fmt: skip
    evaluation = evaluate_model(config, model_dir, test)
    root = parse_html(write_report(evaluation, title="reg", validation=None))
    for section in SECTIONS:
        root.find_id(section)
    chart = root.find_id("predicted-vs-actual")
    predicted = load_model(model_dir).predict(frame)
    actual = frame["y"].to_numpy()
    assert sorted(_points(chart)) == sorted(
        f"test rows: {format_number(float(a))}, {format_number(float(p))}"
        for a, p in zip(actual, predicted, strict=True)
    )
    (diagonal,) = chart.by_class("line", "polyline")
    assert diagonal.attrs["data-series"] == "y = x"
    (start, end) = [tuple(map(float, xy.split(","))) for xy in diagonal.attrs["points"].split()]
    assert start[0] < end[0] and start[1] > end[1]  # up and to the right (svg y grows down)
    assert (
        "ROC and PR curves apply to binary classification"
        in root.find_id("section-roc-pr").all_text()
    )
    json.dumps(evaluation.to_dict())  # the predictions stay out of evaluation.json
    assert "predictions" not in evaluation.to_dict()


def test_the_predicted_versus_actual_chart_thins_a_large_test_set_and_says_so() -> None:
    rows = 3 * MAX_SCATTER_POINTS + 1
    pairs = [(float(i), float(i) + 0.5) for i in range(rows)]
    root = parse_html(
        render_report(
            title="t",
            metrics={},
            history=[],
            confusion=None,
            labels=None,
            gate=None,
            details=ReportDetails(task="regression", predictions=pairs),
        )
    )
    chart = root.find_id("predicted-vs-actual")
    assert len(_points(chart)) == MAX_SCATTER_POINTS
    assert _points(chart)[0] == "test rows: 0, 0.5"  # evenly spaced from the first row
    text = root.find_id("section-predicted-actual").all_text()
    assert f"{MAX_SCATTER_POINTS} of the {rows} rows are drawn" in text
    empty = render_report(
        title="t", metrics={}, history=[], confusion=None, labels=None, gate=None,
        details=ReportDetails(task="regression"),
    )  # fmt: skip
    assert (
        "No test predictions were recorded"
        in parse_html(empty).find_id("section-predicted-actual").all_text()
    )


def test_baseline_required_but_not_beaten_blocks_the_blessing(tmp_path: Path) -> None:
    config, model_dir, test, _ = _image_run(tmp_path)
    metrics_path = Path(model_dir) / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["sanity"]["baselines"]["majority"]["accuracy"] = 0.9
    metrics_path.write_text(json.dumps(metrics))
    evaluation = evaluate_model(config, model_dir, test)
    assert evaluation.baseline is not None and evaluation.baseline["beats"] is False
    assert evaluation.gate is not None and not evaluation.gate.blessed
    assert evaluation.gate.reason == "not blessed: validation accuracy 0.7 < majority baseline 0.9"
    root = parse_html(write_report(evaluation, title="img", validation=None))
    assert "does worse than the majority baseline" in root.find_id("baseline-verdict").all_text()


def test_components_log_kfp_visualizations(tmp_path: Path) -> None:
    from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model
    from trainpipe_components.evaluate import evaluate_op
    from trainpipe_components.validate import validate_op

    config, model_dir, test, _ = _image_run(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    metrics, confusion = Metrics(uri=str(out / "m")), ClassificationMetrics(uri=str(out / "c"))
    # KFP names an output's file after the output, without a suffix
    report, summary = HTML(uri=str(out / "report")), Markdown(uri=str(out / "s.md"))
    blessed = evaluate_op.python_func(
        config_json=config.to_json(),
        model=Model(uri=model_dir),
        validation=Dataset(uri=test),
        test=Dataset(uri=test),
        metrics=metrics,
        confusion=confusion,
        report=report,
        evaluation=Artifact(uri=str(out / "e.json")),
        summary=summary,
    )
    evaluation = json.loads((out / "e.json").read_text())
    assert blessed is evaluation["gate"]["blessed"]
    per_class = evaluation["metrics"]["per_class"]
    for label in ("a", "b"):
        for score in ("precision", "recall", "f1"):
            assert metrics.metadata[f"{score}_{label}"] == per_class[label][score]
    assert metrics.metadata["baseline"]["baseline"] == "majority"
    matrix = confusion.metadata["confusionMatrix"]
    assert [row["row"] for row in matrix["rows"]] == evaluation["metrics"]["confusion_matrix"]
    roc = confusion.metadata["confidenceMetrics"]
    assert len(roc) >= 2 and roc[0]["falsePositiveRate"] == 0.0
    assert roc[-1]["recall"] == 1.0  # KFP names the true positive rate "recall"
    # the report is a page a browser opens: its artifact's URI, and file, end in .html
    assert report.uri == str(out / "report.html") and not (out / "report").exists()
    root = parse_html((out / "report.html").read_text())
    for section in SECTIONS:
        root.find_id(section)
    assert "diagnosis" in {n.attrs.get("id") for n in root.iter()}
    markdown = (out / "s.md").read_text()
    assert "**Gate:**" in markdown and "| a |" in markdown and "| b |" in markdown

    v_metrics, v_confusion = (
        Metrics(uri=str(out / "vm")),
        ClassificationMetrics(uri=str(out / "vc")),
    )
    curves = HTML(uri=str(out / "curves"))
    verdict = validate_op.python_func(
        config_json=config.to_json(),
        model=Model(uri=model_dir),
        validation=Dataset(uri=test),
        metrics=v_metrics,
        confusion=v_confusion,
        curves=curves,
    )
    assert verdict == v_metrics.metadata["diagnosis"]["verdict"]
    assert "confusionMatrix" in v_confusion.metadata
    assert curves.uri == str(out / "curves.html")
    page = parse_html((out / "curves.html").read_text())
    series = _series(page.find_id("loss-curve"))
    assert series == {"train_loss": len(HISTORY), "val_loss": len(HISTORY)}
