"""The registered ONNX file carries the whole input transform: a serving runtime that reads only
its ``trainpipe.*`` metadata turns raw rows into the same predictions as the PyTorch model.

``serve`` below is that runtime: it knows the documented metadata layout, numpy, ``re`` and
onnxruntime, and nothing of trainpipe's preprocessing code.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
import torch

from trainpipe.config import ModelConfig
from trainpipe.data.dataset import Schema
from trainpipe.errors import DataError
from trainpipe.models import build_model
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.registry import ModelRegistry
from trainpipe.storage.factory import open_store
from trainpipe.train.artifacts import LoadedModel, load_model, save_model
from trainpipe.train.data import Preprocess

pytestmark = pytest.mark.unit


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class Refused(Exception):
    """The metadata says the row at this position must not be scored."""


def preprocess_rows(meta: dict[str, str], rows: list[dict[str, Any]]) -> np.ndarray:
    """The model input for raw ``rows``, computed from the metadata alone."""
    spec = json.loads(meta["trainpipe.preprocess"])
    assert spec["layout"] == "trainpipe.preprocess/v2"
    values: dict[str, list[Any]] = {c: [row[c] for row in rows] for c in spec["columns"]}
    blocks: dict[str, np.ndarray] = {}
    for step in spec["steps"]:
        op = step["op"]
        if op == "refuse_missing":
            assert spec["missing"] == {"policy": step["policy"], "action": "refuse"}
            for i, row in enumerate(rows):
                if any(_missing(row[c]) for c in step["columns"]):
                    raise Refused(i)
        elif op == "impute":
            assert spec["missing"]["action"] == "fill"
            for column, fill in zip(step["columns"], step["values"], strict=True):
                values[column] = [fill if _missing(v) else v for v in values[column]]
        elif op == "clip":
            for i, column in enumerate(step["columns"]):
                low, high = step["low"][i], step["high"][i]
                values[column] = [min(max(float(v), low), high) for v in values[column]]
        elif op == "standardize":
            for i, column in enumerate(step["columns"]):
                mean, std = step["mean"][i], step["std"][i]
                blocks[column] = np.array([[(float(v) - mean) / std] for v in values[column]])
        elif op == "one_hot":
            assert (step["compare"], step["unknown"]) == ("string", "zeros")
            categories = step["categories"]
            blocks[step["column"]] = np.array(
                [[float(not _missing(v) and str(v) == c) for c in categories]
                 for v in values[step["column"]]]
            )  # fmt: skip
        elif op == "fill_missing":
            column = step["column"]
            values[column] = [step["value"] if _missing(v) else str(v) for v in values[column]]
        elif op == "tokenize":
            assert step["lowercase"] is True
            pattern = re.compile(step["pattern"])
            values[step["column"]] = [pattern.findall(v.lower()) for v in values[step["column"]]]
        elif op == "truncate":
            values[step["column"]] = [w[: step["max_tokens"]] for w in values[step["column"]]]
        elif op == "lookup":
            index = {word: i for i, word in enumerate(step["vocabulary"])}
            values[step["column"]] = [
                [index.get(w, step["unknown_id"]) for w in words]
                for words in values[step["column"]]
            ]
        elif op == "pad":
            length, pad = step["length"], step["pad_id"]
            blocks[step["column"]] = np.array(
                [ids + [pad] * (length - len(ids)) for ids in values[step["column"]]],
                dtype=np.float64,
            )
        else:
            raise AssertionError(f"the metadata names an undocumented step {op!r}")
    output = spec["output"]
    assert output["compute_dtype"] == "float64"
    features = np.concatenate([blocks[c] for c in output["concat"]], axis=1)
    assert features.shape[1] == output["width"]
    return features.astype(output["dtype"])


def serve(onnx_bytes: bytes, rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[Any]]:
    """Raw outputs and predictions of the ONNX file for raw rows, from its metadata alone."""
    proto = onnx.load_from_string(onnx_bytes)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["trainpipe.format"] == "trainpipe.onnx/v2"
    graph_input, graph_output = (
        json.loads(meta["trainpipe.input"]),
        json.loads(meta["trainpipe.output"]),
    )
    features = preprocess_rows(meta, rows)
    assert features.dtype == np.dtype(graph_input["dtype"])
    assert features.shape[1] == graph_input["shape"][1]
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (outputs,) = session.run([graph_output["name"]], {graph_input["name"]: features})
    if graph_output["kind"] == "logits":
        classes = graph_output["classes"]
        return outputs, [classes[i] for i in outputs.argmax(axis=1)]
    assert graph_output["kind"] == "scaled_target"
    scaled = outputs[:, 0] * graph_output["target_std"] + graph_output["target_mean"]
    return outputs, scaled.tolist()


def registered_onnx(tmp_path: Path, model_dir: str) -> bytes:
    """The ``model.onnx`` the registry stored for ``model_dir`` (parity-checked on the way)."""
    registry = ModelRegistry.open(str(tmp_path / "registry"))
    version = registry.register(
        "m", model_dir, lineage=build_lineage(config={}, data_hash="", metrics={})
    )
    return open_store(version.uri).read_bytes("model.onnx")


def save(
    tmp_path: Path, model_config: ModelConfig, preprocess: Preprocess, task: str
) -> LoadedModel:
    torch.manual_seed(0)
    n_outputs = len(preprocess.classes) if task == "classification" else 1
    module = build_model(
        model_config, preprocess.width, n_outputs, vocab_size=len(preprocess.vocabulary)
    )
    save_model(
        str(tmp_path / "model"),
        module,
        model_config=model_config,
        task=task,
        label="y",
        preprocess=preprocess,
        metrics={"history": [], "final": {}},
    )
    return load_model(str(tmp_path / "model"))


def numeric_model(tmp_path: Path) -> tuple[LoadedModel, pd.DataFrame]:
    """Regression on three numeric features with outliers clipped at the 5% quantiles."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {"a": rng.normal(10, 3, 300), "b": rng.exponential(5, 300), "c": rng.uniform(-1, 1, 300)}
    )
    train["y"] = 2 * train["a"] - train["b"] + 50
    schema = Schema(label="y", task="regression", features=["a", "b", "c"])
    preprocess = Preprocess.fit(train, schema, clip_quantile=0.05, missing="median")
    assert preprocess.clip_low and preprocess.target_std != 1.0
    assert preprocess.fill_numeric == [float(train[c].median()) for c in "abc"]
    rows = pd.DataFrame(
        {
            "a": [10.0, -100.0, 400.0, 11.5, np.nan],
            "b": [0.0, 1e4, 3.0, np.nan, 7.0],
            "c": [0.3, -0.9, 5.0, -7.0, np.nan],
        }
    )  # values beyond the clipping bounds on both sides, and missing ones (filled)
    model = save(
        tmp_path, ModelConfig(kind="mlp", hidden=[16, 8], dropout=0.0), preprocess, "regression"
    )
    return model, rows


def categorical_model(
    tmp_path: Path, missing: str = "constant"
) -> tuple[LoadedModel, pd.DataFrame]:
    """Classification on two numeric and two categorical features."""
    rng = np.random.default_rng(1)
    train = pd.DataFrame(
        {
            "size": rng.normal(0, 2, 200),
            "weight": rng.normal(70, 10, 200),
            "color": rng.choice(["red", "green", "blue"], 200),
            "shape": rng.choice(["round", "square"], 200),
            "y": rng.choice(["no", "yes", "maybe"], 200),
        }
    )
    schema = Schema(
        label="y",
        task="classification",
        features=["size", "color", "weight", "shape"],
        classes=["maybe", "no", "yes"],
        categorical=["color", "shape"],
    )
    preprocess = Preprocess.fit(train, schema, missing=missing, fill_value=-1.5)
    assert preprocess.categories == {
        "color": ["blue", "green", "red"],
        "shape": ["round", "square"],
    }
    rows = pd.DataFrame(
        {
            "size": [0.5, -3.0, 2.2, 0.0, 1.0],
            "weight": [60.0, 85.0, 70.0, None, 50.0],
            "color": ["red", "purple", None, "blue", "green"],  # unseen, and missing: "missing"
            "shape": ["square", "round", "round", "triangle", None],
        }
    )
    model = save(
        tmp_path, ModelConfig(kind="mlp", hidden=[16], dropout=0.0), preprocess, "classification"
    )
    return model, rows


def text_model(tmp_path: Path) -> tuple[LoadedModel, pd.DataFrame]:
    """A transformer on token ids of one text column."""
    train = pd.DataFrame(
        {
            "review": [
                "The food was good", "Awful service, really bad", "It's a great day",
                "so sad and wrong", "nice movie", "The movie felt poor", "good good good",
            ] * 5,
            "y": ["pos", "neg", "pos", "neg", "pos", "neg", "pos"] * 5,
        }
    )  # fmt: skip
    schema = Schema(
        label="y", task="classification", features=["review"], classes=["neg", "pos"],
        text=["review"],
    )  # fmt: skip
    preprocess = Preprocess.fit(train, schema, vocab_size=12, max_tokens=6)
    assert 2 < len(preprocess.vocabulary) <= 12
    rows = pd.DataFrame(
        {
            "review": [
                "GOOD food, it's GREAT!",  # case and punctuation
                "the movie was really, really bad and the service awful too",  # > max_tokens
                "unheard-of words: zyzzyva qwerty",  # unknown words
                "",
                None,  # missing text: all padding
                "Don't",
            ]
        }
    )
    config = ModelConfig(kind="transformer", d_model=16, heads=2, layers=1, dropout=0.0)
    return save(tmp_path, config, preprocess, "classification"), rows


def mode_model(tmp_path: Path) -> tuple[LoadedModel, pd.DataFrame]:
    """The categorical model with ``data.missing: mode``: the most frequent value fills."""
    return categorical_model(tmp_path, missing="mode")


@pytest.mark.parametrize("build", [numeric_model, categorical_model, mode_model, text_model])
def test_metadata_alone_reproduces_the_pytorch_predictions(tmp_path: Path, build: Any) -> None:
    model, rows = build(tmp_path)
    onnx_bytes = registered_onnx(tmp_path, str(tmp_path / "model"))

    outputs, predictions = serve(onnx_bytes, rows.to_dict("records"))

    features = model.preprocess.transform_features(rows)
    np.testing.assert_array_equal(
        preprocess_rows(
            {p.key: p.value for p in onnx.load_from_string(onnx_bytes).metadata_props},
            rows.to_dict("records"),
        ),
        features.numpy(),
    )
    expected = model.predict_tensor(features).numpy()
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    report = model.input_report(rows)
    assert report.filled, "every case has missing values, filled by the model's policy"
    scored = model.score(rows)
    if model.task == "classification":
        assert predictions == [model.classes[i] for i in scored.predictions]
    else:
        np.testing.assert_allclose(predictions, scored.predictions, rtol=1e-5)


def test_metadata_says_to_refuse_what_the_model_refuses(tmp_path: Path) -> None:
    model, rows = categorical_model(tmp_path, missing="drop")
    onnx_bytes = registered_onnx(tmp_path, str(tmp_path / "model"))
    meta = {p.key: p.value for p in onnx.load_from_string(onnx_bytes).metadata_props}
    assert json.loads(meta["trainpipe.preprocess"])["missing"] == {
        "policy": "drop",
        "action": "refuse",
    }

    with pytest.raises(Refused) as refused:
        preprocess_rows(meta, rows.to_dict("records"))
    with pytest.raises(
        DataError, match=r"row 2 has a missing value in column 'color' \(3 of 5 rows have"
    ):
        model.predict(rows)
    assert refused.value.args == (2,)  # the same first row
    complete = rows.dropna()
    assert len(complete) == 2
    np.testing.assert_array_equal(
        preprocess_rows(meta, complete.to_dict("records")),
        model.preprocess.transform_features(complete).numpy(),
    )
