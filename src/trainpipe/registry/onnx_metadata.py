"""The ``trainpipe.*`` metadata of an ONNX export: everything a serving runtime needs to turn a
raw row into the graph's input and the graph's output into a prediction, exactly as
:meth:`trainpipe.train.data.Preprocess.transform_features` and
:meth:`trainpipe.train.artifacts.LoadedModel.predict` do.

Every value is a string; the structured ones are JSON. Layout ``trainpipe.onnx/v2``:

``trainpipe.format``
    ``"trainpipe.onnx/v2"``.
``trainpipe.task``, ``trainpipe.label``
    ``classification`` or ``regression``; the label column's name.
``trainpipe.features``
    JSON list: the raw columns a row must have, in the order the model input is built from them
    (the same list as ``columns`` in ``trainpipe.preprocess``).
``trainpipe.classes``
    JSON list: class names in output order (empty for regression).
``trainpipe.input``
    JSON ``{"name": "features", "dtype": "float32", "shape": ["batch", WIDTH]}``.
``trainpipe.preprocess``
    JSON ``{"layout": "trainpipe.preprocess/v2", "kind": "tabular" | "text", "columns": [...],
    "missing": {...}, "steps": [...], "output": {...}}``. ``missing`` is
    ``{"policy": P, "action": "fill" | "refuse"}``: the training run's ``data.missing`` (``""``
    for a model saved before it was recorded) and what it means for a row with a missing value
    (null or NaN) in one of ``columns``: the steps fill it, or the row must be refused (never
    scored: trainpipe raises an error naming it). The steps run in order, each on the columns it
    names,
    and the model input is then the concatenation, in ``columns`` order, of each column's
    value(s): a numeric column gives 1 value, a ``one_hot`` column ``len(categories)`` values,
    the text column ``max_tokens`` token ids; computed in float64, then cast to float32.
``trainpipe.output``
    JSON ``{"name": "outputs", "dtype": "float32", "shape": ["batch", N], "kind": ...}``: kind
    ``logits`` (classification; the prediction is ``classes[argmax]``) or ``scaled_target``
    (regression; the prediction is ``output * target_std + target_mean``).

The steps (``op`` and its parameters):

``refuse_missing`` ``{"columns", "policy"}``
    First, when ``missing.action`` is ``refuse``: a row with a missing value in any of these
    columns must not be scored (the policy ``drop`` or ``fail`` cannot drop a row at inference).
``impute`` ``{"columns", "values"}``
    Numeric columns, when ``missing.action`` is ``fill``: a missing value becomes ``values[i]``
    (fitted on the training split by the policy: mean, median, most frequent value or the
    constant ``data.fill_value``), before clipping.
``clip`` ``{"columns", "low", "high"}``
    Numeric columns: ``x = min(max(x, low[i]), high[i])`` with the training split's quantile
    bounds (``data.clip_quantile``); absent when clipping was off.
``standardize`` ``{"columns", "mean", "std"}``
    Numeric columns: ``x = (x - mean[i]) / std[i]`` with the training split's mean and std
    (after clipping; a constant feature has std 1). Absent when there are no numeric columns.
``one_hot`` ``{"column", "categories", "compare": "string", "unknown": "zeros"}``
    One value per category, 1.0 where the value's string form equals it; an unseen value gives
    all zeros (trainpipe counts such rows and warns).
``fill_missing`` ``{"column", "value"}``
    A missing value becomes the string ``value``: for a categorical column (before its
    ``one_hot``, when ``missing.action`` is ``fill``) the training split's most frequent category
    or ``"missing"`` (policy ``constant``); for the text column the empty string, whatever the
    policy.
``tokenize`` ``{"column", "lowercase": true, "pattern"}``
    Text column: the text lowercased (Unicode, like Python's ``str.lower``), then every
    non-overlapping match of the regular expression ``pattern``, left to right.
``truncate`` ``{"column", "max_tokens"}``
    Keep the first ``max_tokens`` words.
``lookup`` ``{"column", "vocabulary", "unknown_id"}``
    A word's id is its index in ``vocabulary``; a word not in it gets ``unknown_id``.
``pad`` ``{"column", "length", "pad_id"}``
    Fill up to ``length`` ids with ``pad_id``.

A consumer that skips ``refuse_missing`` or ``impute`` gets NaN outputs for incomplete rows.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from trainpipe.data.text import PAD_ID, UNKNOWN_ID, WORD_PATTERN
from trainpipe.train.missing import fills

__all__ = [
    "FORMAT",
    "PREPROCESS_LAYOUT",
    "FittedPreprocess",
    "onnx_metadata",
    "output_spec",
    "preprocess_spec",
]

FORMAT = "trainpipe.onnx/v2"
PREPROCESS_LAYOUT = "trainpipe.preprocess/v2"


class FittedPreprocess(Protocol):
    """What is read of :class:`trainpipe.train.data.Preprocess` (named structurally, so this
    module does not import torch)."""

    features: list[str]
    mean: list[float]
    std: list[float]
    target_mean: float
    target_std: float
    classes: list[str]
    clip_low: list[float]
    clip_high: list[float]
    categories: dict[str, list[str]]
    text: str
    vocabulary: list[str]
    max_tokens: int
    missing: str
    fill_numeric: list[float]
    fill_categories: dict[str, str]

    @property
    def width(self) -> int:
        """Number of model inputs."""
        ...


def preprocess_spec(preprocess: FittedPreprocess) -> dict[str, Any]:
    """The steps that turn a raw row into the model input, as plain data (see module doc)."""
    if preprocess.text:
        column = preprocess.text
        steps: list[dict[str, Any]] = [
            {"op": "fill_missing", "column": column, "value": ""},
            {"op": "tokenize", "column": column, "lowercase": True, "pattern": WORD_PATTERN},
            {"op": "truncate", "column": column, "max_tokens": preprocess.max_tokens},
            {
                "op": "lookup",
                "column": column,
                "vocabulary": list(preprocess.vocabulary),
                "unknown_id": UNKNOWN_ID,
            },
            {"op": "pad", "column": column, "length": preprocess.max_tokens, "pad_id": PAD_ID},
        ]
        return _spec("text", [column], steps, preprocess.width, preprocess.missing, "fill")
    numeric = list(preprocess.features)
    columns = [*numeric, *preprocess.categories]
    fill = fills(preprocess.missing)
    steps = []
    if not fill:
        steps.append({"op": "refuse_missing", "columns": columns, "policy": preprocess.missing})
    if numeric and fill:
        steps.append({"op": "impute", "columns": numeric, "values": list(preprocess.fill_numeric)})
    if numeric and preprocess.clip_low:
        steps.append(
            {
                "op": "clip",
                "columns": numeric,
                "low": list(preprocess.clip_low),
                "high": list(preprocess.clip_high),
            }
        )
    if numeric:
        steps.append(
            {
                "op": "standardize",
                "columns": numeric,
                "mean": list(preprocess.mean),
                "std": list(preprocess.std),
            }
        )
    for column, categories in preprocess.categories.items():
        if fill:
            steps.append(
                {
                    "op": "fill_missing",
                    "column": column,
                    "value": preprocess.fill_categories[column],
                }
            )
        steps.append(
            {
                "op": "one_hot",
                "column": column,
                "categories": list(categories),
                "compare": "string",
                "unknown": "zeros",
            }
        )
    return _spec(
        "tabular",
        columns,
        steps,
        preprocess.width,
        preprocess.missing,
        "fill" if fill else "refuse",
    )


def _spec(
    kind: str,
    columns: list[str],
    steps: list[dict[str, Any]],
    width: int,
    policy: str,
    action: str,
) -> dict[str, Any]:
    return {
        "layout": PREPROCESS_LAYOUT,
        "kind": kind,
        "columns": columns,
        "missing": {"policy": policy, "action": action},
        "steps": steps,
        "output": {
            "concat": columns,
            "compute_dtype": "float64",
            "dtype": "float32",
            "width": width,
        },
    }


def output_spec(
    task: str, preprocess: FittedPreprocess, *, name: str, batch_axis: str
) -> dict[str, Any]:
    """What the graph's output means and how it becomes a prediction."""
    if task == "classification":
        return {
            "name": name,
            "dtype": "float32",
            "shape": [batch_axis, len(preprocess.classes)],
            "kind": "logits",
            "classes": list(preprocess.classes),
            "prediction": "classes[argmax(output)]",
        }
    return {
        "name": name,
        "dtype": "float32",
        "shape": [batch_axis, 1],
        "kind": "scaled_target",
        "target_mean": preprocess.target_mean,
        "target_std": preprocess.target_std,
        "prediction": "output * target_std + target_mean",
    }


def onnx_metadata(
    *,
    task: str,
    label: str,
    preprocess: FittedPreprocess,
    input_name: str,
    output_name: str,
    batch_axis: str,
    width: int,
) -> dict[str, str]:
    """Every ``trainpipe.*`` metadata entry of the export (values are strings)."""
    spec = preprocess_spec(preprocess)
    return {
        "trainpipe.format": FORMAT,
        "trainpipe.task": task,
        "trainpipe.label": label,
        "trainpipe.features": json.dumps(spec["columns"]),
        "trainpipe.classes": json.dumps(list(preprocess.classes)),
        "trainpipe.input": json.dumps(
            {"name": input_name, "dtype": "float32", "shape": [batch_axis, width]}
        ),
        "trainpipe.preprocess": json.dumps(spec, sort_keys=True),
        "trainpipe.output": json.dumps(
            output_spec(task, preprocess, name=output_name, batch_axis=batch_axis), sort_keys=True
        ),
    }
