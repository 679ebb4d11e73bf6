"""Scoring raw rows: missing values follow the training run's ``data.missing`` policy (filled with
values fitted on the training split, or the row refused by index and column), and categories
unseen in training are counted and warned about once per call."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_factory import tabular_training_split, write_tabular_model
from trainpipe.config import RunConfig
from trainpipe.data.dataset import read_dataset
from trainpipe.errors import DataError, TrainingError
from trainpipe.train.artifacts import LoadedModel, load_model
from trainpipe.train.data import load_tensors
from trainpipe.train.input_report import UnseenCategoryWarning
from trainpipe.train.model_files import MODEL_KEY
from trainpipe.train.spec import TrainSpec

pytestmark = pytest.mark.unit


def saved(tmp_path: Path, missing: str, *, task: str = "classification") -> LoadedModel:
    return load_model(write_tabular_model(tmp_path / "model", missing=missing, task=task))


ROWS = pd.DataFrame(
    {
        "size": [4.0, np.nan, 6.5, 5.0],
        "weight": [12.0, 3.0, np.nan, 8.0],
        "color": ["red", "blue", None, "green"],
    },
    index=["r1", "r2", "r3", "r4"],
)


def expected_fill(policy: str) -> dict[str, object]:
    """What ingest would have filled with, computed here from the training split."""
    train = tabular_training_split()
    if policy == "constant":
        return {"size": -4.0, "weight": -4.0, "color": "missing"}
    pick = {
        "mean": lambda s: s.mean(),
        "median": lambda s: s.median(),
        "mode": lambda s: s.mode().iloc[0],
    }[policy]
    return {
        "size": float(pick(train["size"])),
        "weight": float(pick(train["weight"])),
        "color": str(train["color"].mode().iloc[0]),
    }


@pytest.mark.parametrize("policy", ["mean", "median", "mode", "constant"])
def test_a_missing_value_is_filled_with_what_the_policy_fitted_on_the_training_split(
    tmp_path: Path, policy: str
) -> None:
    model = saved(tmp_path, policy)
    fill = expected_fill(policy)
    assert model.preprocess.missing == policy
    assert model.preprocess.fill_numeric == pytest.approx([fill["size"], fill["weight"]])
    assert model.preprocess.fill_categories == {"color": fill["color"]}

    scores = model.score(ROWS)

    by_hand = ROWS.fillna(fill)
    assert not by_hand.isna().any().any()
    np.testing.assert_array_equal(scores.predictions, model.score(by_hand).predictions)
    np.testing.assert_allclose(scores.probabilities, model.score(by_hand).probabilities)
    assert np.isfinite(scores.probabilities).all()
    assert scores.report.filled == {"size": 1, "weight": 1, "color": 1}
    assert scores.report.policy == policy
    assert scores.report.unseen == {}  # a filled value is not an unseen category


@pytest.mark.parametrize("policy", ["drop", "fail"])
def test_a_missing_value_is_refused_by_row_and_column_when_the_policy_fills_nothing(
    tmp_path: Path, policy: str
) -> None:
    model = saved(tmp_path, policy)
    assert (model.preprocess.fill_numeric, model.preprocess.fill_categories) == ([], {})

    with pytest.raises(DataError) as refused:
        model.predict(ROWS)

    message = str(refused.value)
    assert "row 'r2' has a missing value in column 'size' (2 of 4 rows have missing values)" in (
        message
    )
    assert f"trained with data.missing {policy!r}" in message
    assert "fill or drop those rows before predicting" in message
    with pytest.raises(DataError, match="row 'r2'"):
        model.predict_proba(ROWS)
    complete = ROWS.loc[["r1", "r4"]]
    assert model.predict(complete).shape == (2,)


def test_an_old_model_without_a_recorded_policy_loads_and_refuses_missing_values(
    tmp_path: Path,
) -> None:
    model = saved(tmp_path, "mean")
    complete = ROWS.loc[["r1", "r4"]]
    before = model.predict_proba(complete)
    path = tmp_path / "model" / MODEL_KEY
    description = json.loads(path.read_text())
    for key in ("missing", "fill_numeric", "fill_categories"):
        del description["preprocess"][key]  # as model.json was written before they existed
    path.write_text(json.dumps(description))

    old = load_model(str(tmp_path / "model"))

    assert old.preprocess.missing == ""
    np.testing.assert_array_equal(old.predict_proba(complete), before)
    with pytest.raises(DataError, match=r"row 'r2' .* saved without a missing-value policy"):
        old.predict(ROWS)


def test_unseen_categories_are_counted_and_warned_about_once_per_call(tmp_path: Path) -> None:
    model = saved(tmp_path, "mode")
    rows = pd.DataFrame(
        {
            "size": [1.0, 2.0, 3.0, 4.0],
            "weight": [1.0, 2.0, 3.0, 4.0],
            "color": ["purple", "red", "purple", "teal"],
        }
    )

    for predict in (model.predict, model.predict_proba):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predict(rows)
        assert len(caught) == 1
        warning = caught[0].message
        assert isinstance(warning, UnseenCategoryWarning)
        assert warning.counts == {"color": 3}
        assert "'color': 3 of 4 rows (e.g. 'purple', 'teal')" in str(warning)
        assert caught[0].filename == __file__  # points at the caller

    report = model.input_report(rows)
    assert (report.unseen, report.unseen_examples) == ({"color": 3}, {"color": ["purple", "teal"]})
    assert report.unseen_rows == 3
    np.testing.assert_array_equal(
        model.preprocess.transform_features(rows)[[0, 2, 3], 2:].numpy(), 0.0
    )  # unseen: all zeros
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(rows.assign(color=["red", "red", "green", "blue"]))  # all known: silent


def test_a_value_that_is_not_a_number_is_refused_by_row_and_column(tmp_path: Path) -> None:
    model = saved(tmp_path, "mean")
    rows = pd.DataFrame({"size": ["1.5", "big"], "weight": [1.0, 2.0], "color": ["red", "red"]})
    with pytest.raises(DataError, match=r"column 'size' holds the value 'big' at row 1"):
        model.predict(rows)
    assert model.predict(rows.iloc[:1]).shape == (1,)  # "1.5" reads as a number


def test_predict_proba_needs_a_classification_model(tmp_path: Path) -> None:
    model = saved(tmp_path, "mean", task="regression")
    assert model.predict(ROWS).shape == (4,)
    with pytest.raises(TrainingError, match="predict_proba needs a classification model"):
        model.predict_proba(ROWS)


def test_training_records_the_configs_missing_value_policy(
    tmp_path: Path, iris_splits: dict[str, str]
) -> None:
    config = RunConfig.from_dict(
        {"data": {"source": "builtin:iris", "missing": "median"}, "task": "classification"}
    )
    spec = TrainSpec(
        config=config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "model"),
    )
    _, _, preprocess, _ = load_tensors(spec)
    train, _ = read_dataset(iris_splits["train"])
    assert preprocess.missing == "median"
    assert preprocess.fill_numeric == [float(train[c].median()) for c in preprocess.features]
