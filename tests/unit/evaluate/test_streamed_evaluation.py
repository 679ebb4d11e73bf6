"""The validate and evaluate stages score a streamed split one row group at a time, through
loader workers, and get the metrics, gate and champion comparison of the in-memory stage."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from trainpipe.config import RunConfig
from trainpipe.errors import DataError
from trainpipe.evaluate.stages import evaluate_model, validate_model
from trainpipe.launch.train_job import train_model

pytestmark = pytest.mark.unit

EXACT = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "confusion_matrix", "labels")


def config_for(tmp_path: Path, **settings: Any) -> RunConfig:
    document = {
        "name": "iris",
        "data": {"source": "builtin:iris"},
        "model": {"hidden": [16], "dropout": 0.0},
        "train": {"epochs": 15, "batch_size": 16, "learning_rate": 0.02,
                  "backend": "inprocess", "num_threads": 1},
        "evaluate": {"champion": {"method": "mcnemar"}, "latency_samples": 5,
                     "sensitive_column": "petal length (cm)"},
        "registry": {"uri": str(tmp_path / "registry"), "model_name": "iris"},
    }  # fmt: skip
    return RunConfig.from_dict(document).with_overrides(settings)


def in_row_groups(split: str, target: Path, rows: int, **change: Any) -> str:
    """The trainpipe dataset ``split`` rewritten in row groups of ``rows`` rows."""
    target.mkdir()
    shutil.copy(Path(split) / "schema.json", target / "schema.json")
    frame = pd.read_parquet(Path(split) / "data.parquet")
    for (row, column), value in change.get("cells", {}).items():
        frame.loc[row, column] = value
    frame.to_parquet(target / "data.parquet", index=False, row_group_size=rows)
    return str(target)


@pytest.fixture(scope="module")
def trained(iris_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("streamed-eval")
    config = config_for(root)
    model = str(root / "model")
    train_model(
        config, train_data=iris_splits["train"], validation_data=iris_splits["validation"],
        output=model, log=lambda line: None,
    )  # fmt: skip
    test = in_row_groups(iris_splits["test"], root / "test", rows=4)
    validation = in_row_groups(iris_splits["validation"], root / "validation", rows=5)
    return {"root": root, "model": model, "test": test, "validation": validation}


def test_a_streamed_test_split_gets_the_metrics_gate_and_promotion_of_memory(
    trained: dict, iris_splits: dict[str, str]
) -> None:
    root, model, test = trained["root"], trained["model"], trained["test"]
    assert pq.ParquetFile(Path(test) / "data.parquet").metadata.num_row_groups > 4
    memory = evaluate_model(config_for(root, **{"train.stream.mode": "memory"}), model, test)
    lines: list[str] = []
    streamed = evaluate_model(
        config_for(root, **{"train.stream.mode": "stream", "train.stream.num_workers": 1}),
        model,
        test,
        log=lines.append,
    )
    assert any("scoring the test split as a stream" in line for line in lines), lines
    for key in EXACT:
        assert streamed.metrics[key] == memory.metrics[key], key
    assert streamed.metrics["per_class"] == memory.metrics["per_class"]
    error = streamed.metrics["roc_auc_max_error"]
    assert abs(streamed.metrics["roc_auc"] - memory.metrics["roc_auc"]) <= error + 1e-12
    rows = len(pd.read_parquet(Path(test) / "data.parquet"))
    blocks = pq.ParquetFile(Path(test) / "data.parquet").metadata.num_row_groups
    assert streamed.metrics["streamed"] == {"rows": rows, "blocks": blocks, "sample_rows": rows}
    assert streamed.metrics["latency_p50_ms"] > 0 and len(streamed.details["latencies_ms"]) == 5
    # Fewer rows than evaluate.stream_sample_rows: the bias report and the champion comparison
    # see every row, as in memory.
    assert streamed.metrics["bias"] == {**memory.metrics["bias"], "sample_rows": rows}
    assert streamed.gate is not None and memory.gate is not None
    assert streamed.gate.to_dict() == memory.gate.to_dict()
    assert memory.blessed and memory.promotion is not None  # the comparison ran
    assert streamed.promotion == {**memory.promotion, "sample_rows": rows}
    assert streamed.details["splits"]["test"] == memory.details["splits"]["test"]


def test_a_sample_smaller_than_the_split_is_said_and_counted(trained: dict) -> None:
    lines: list[str] = []
    settings = {"train.stream.mode": "stream", "evaluate.stream_sample_rows": 7}
    result = evaluate_model(
        config_for(trained["root"], **settings), trained["model"], trained["test"],
        log=lines.append,
    )  # fmt: skip
    assert result.metrics["streamed"]["sample_rows"] == 7
    assert result.metrics["bias"]["sample_rows"] == 7
    assert any("a seeded sample of 7 of them (evaluate.stream_sample_rows)" in x for x in lines)
    again = evaluate_model(
        config_for(trained["root"], **settings), trained["model"], trained["test"],
        log=lambda line: None,
    )  # fmt: skip
    assert again.metrics["bias"] == result.metrics["bias"]  # the same seeded rows


def test_a_streamed_validation_split_gets_the_metrics_of_memory(trained: dict) -> None:
    root, model, validation = trained["root"], trained["model"], trained["validation"]
    memory = validate_model(model, validation, config_for(root, **{"train.stream.mode": "memory"}))
    streamed = validate_model(
        model, validation, config_for(root, **{"train.stream.num_workers": 0,
                                               "data.stream_threshold_mb": 0}),
        log=lambda line: None,
    )  # fmt: skip
    assert "streamed" in streamed.metrics and "streamed" not in memory.metrics
    for key in EXACT:
        assert streamed.metrics[key] == memory.metrics[key], key
    assert streamed.diagnosis == memory.diagnosis


def test_a_label_the_model_does_not_know_is_refused_naming_the_rows(
    trained: dict, iris_splits: dict[str, str]
) -> None:
    label = pd.read_parquet(Path(iris_splits["test"]) / "data.parquet").columns[-1]
    bad = in_row_groups(
        iris_splits["test"], trained["root"] / "bad-test", rows=4, cells={(9, label): "martian"}
    )
    config = config_for(trained["root"], **{"train.stream.mode": "stream"})
    with pytest.raises(DataError, match=r"bad-test \(rows 8 to 12\).*'martian'.*does not predict"):
        evaluate_model(config, trained["model"], bad, log=lambda line: None)


def test_a_streamed_image_split_shows_the_misclassified_images_memory_shows(
    digits_splits: dict[str, str], tmp_path: Path
) -> None:
    document = {
        "name": "digits",
        "data": {"source": "builtin:digits"},
        "model": {"kind": "mlp", "hidden": [8], "image_shape": [1, 8, 8]},
        "train": {"epochs": 1, "batch_size": 64, "learning_rate": 0.003, "backend": "inprocess",
                  "num_threads": 1, "sanity_checks": False},
        "evaluate": {"require_beat_baseline": False, "champion": {"enabled": False}},
        "registry": {"uri": str(tmp_path / "registry"), "model_name": "digits"},
    }  # fmt: skip
    config = RunConfig.from_dict(document)
    model = str(tmp_path / "model")
    train_model(
        config, train_data=digits_splits["train"], validation_data=digits_splits["validation"],
        output=model, log=lambda line: None,
    )  # fmt: skip
    test = in_row_groups(digits_splits["test"], tmp_path / "test", rows=50)
    memory = evaluate_model(config.with_overrides({"train.stream.mode": "memory"}), model, test)
    streamed = evaluate_model(
        config.with_overrides({"train.stream.mode": "stream"}), model, test, log=lambda line: None
    )
    wrong = memory.details["misclassified"]
    assert len(wrong) == 16  # one epoch of a small model: plenty of mistakes to show
    assert streamed.details["misclassified"] == wrong
    assert streamed.metrics["confusion_matrix"] == memory.metrics["confusion_matrix"]
