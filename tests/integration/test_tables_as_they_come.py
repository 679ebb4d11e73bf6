"""The whole pipeline on tables shaped like real exports, with default data settings.

Each table runs through ``trainpipe run`` (kfp.local) with default settings and only its label
set, plus ``data.drop`` for the export's row-number column: a survey whose few discrete features
repeat with different labels, a panel whose people appear in several waves, and an export with an
id, a date, free text and mixed strings. Each succeeds (tuning included, over the default space),
every input row is accounted for, and no identical feature row (nor a panel's person) spans two
splits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from table_shapes import export_table, panel_table, survey_table
from trainpipe.data.dataset import read_dataset
from trainpipe.data.quality import row_hashes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHAPES: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {
    "survey": (survey_table(n=900), {"label": "y"}),
    "panel": (panel_table(), {"label": "employed"}),
    "export": (export_table(n=500), {"label": "label", "drop": ["Unnamed: 0"]}),
}


def run_shape(root: Path, name: str) -> dict[str, Any]:
    frame, data = SHAPES[name]
    source = root / f"{name}.csv"
    frame.to_csv(source, index=False)
    config = root / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "data": {"source": str(source), **data},
                "registry": {"uri": str(root / "registry"), "model_name": name},
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", "run", "--config", str(config), "--run-dir",
         str(root / name)],
        cwd=root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((root / name / "summary.json").read_text())
    summary["console"] = result.stdout
    return dict(summary)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("shapes")
    return {name: run_shape(root, name) for name in SHAPES}


def splits(summary: dict[str, Any]) -> list[pd.DataFrame]:
    return [read_dataset(summary["artifacts"][part])[0] for part in ("train", "validation", "test")]


@pytest.mark.parametrize("name", list(SHAPES))
def test_each_table_runs_with_every_row_accounted_and_no_repeat_across_splits(
    name: str, runs: dict[str, dict[str, Any]]
) -> None:
    summary = runs[name]
    assert summary["status"] == "succeeded" and summary["error"] is None
    _, schema = read_dataset(summary["artifacts"]["dataset"])
    stats = json.loads((Path(summary["artifacts"]["dataset"]) / "stats.json").read_text())
    account = stats["row_accounting"]
    assert account["rows_in"] == len(SHAPES[name][0])
    removed = sum(r["rows"] for r in account["removed"])
    parts = splits(summary)
    assert account["rows_in"] - removed == account["rows_out"] == sum(len(p) for p in parts)
    seen = [set(row_hashes(p, schema.features).tolist()) for p in parts]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_the_survey_keeps_its_repeats(runs: dict[str, dict[str, Any]]) -> None:
    stats_path = Path(runs["survey"]["artifacts"]["dataset"]) / "stats.json"
    account = json.loads(stats_path.read_text())["row_accounting"]
    assert account["rows_out"] == account["rows_in"] == 900  # repeats are data
    metrics = json.loads((Path(runs["survey"]["artifacts"]["model"]) / "metrics.json").read_text())
    overfit = metrics["sanity"]["overfit_one_batch"]
    assert overfit["passed"] and overfit["floor"] > 0, overfit  # conflicting repeats set a floor


def test_each_run_tunes_over_the_default_space_and_says_so(
    runs: dict[str, dict[str, Any]],
) -> None:
    for summary in runs.values():
        assert "the default space (set tune.search_space to choose)" in summary["console"]
        trials = json.loads(Path(summary["artifacts"]["trials"]).read_text())
        assert trials["n_complete"] + trials["n_pruned"] == 8
        assert set(trials["best_params"]) == {"train.learning_rate", "model.dropout"}


def test_the_panel_keeps_each_person_in_one_split(runs: dict[str, dict[str, Any]]) -> None:
    people = [set(p["person_id"]) for p in splits(runs["panel"])]
    assert not (people[0] & people[1]) and not (people[0] & people[2])
    assert not (people[1] & people[2])
    assert "split groups rows by 'person_id'" in runs["panel"]["console"]


def test_the_export_reads_each_column_by_its_role(runs: dict[str, dict[str, Any]]) -> None:
    _, schema = read_dataset(runs["export"]["artifacts"]["dataset"])
    assert "RespondentID" not in schema.features and "comment" not in schema.features
    assert {"visit_year", "visit_month", "income", "age"} <= set(schema.features)
    assert schema.categorical == ["plan", "devices"]
    console = runs["export"]["console"]
    assert "not used as features: RespondentID (id" in console
    assert "reads these values as missing: 'refused' (5)" in console
    stats_path = Path(runs["export"]["artifacts"]["dataset"]) / "stats.json"
    removed = json.loads(stats_path.read_text())["row_accounting"]["removed"]
    assert {r["rule"]: r["rows"] for r in removed}["missing_values"] == 5  # the "refused" incomes


def test_the_export_model_scores_raw_rows(runs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """Raw export rows (a date string, "refused" among the incomes) are converted as ingest
    converted the training rows; a row with a missing income is refused under data.missing:
    drop, naming the row and the column."""
    raw = SHAPES["export"][0]
    source = tmp_path / "raw.csv"
    raw.iloc[5:60].to_csv(source, index=False)
    # the run's model directory: whether the gate blessed (and registered) it is not the point
    argv = ["--model", runs["export"]["artifacts"]["model"], "--input", str(source)]
    scored = subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", "predict", *argv, "--output",
         str(tmp_path / "scored.csv")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stdout + scored.stderr
    out = pd.read_csv(tmp_path / "scored.csv")
    assert len(out) == 55 and set(out["prediction"]) <= {"a", "b"}
    raw.iloc[:10].to_csv(source, index=False)
    refused = subprocess.run(
        [sys.executable, "-m", "trainpipe.cli", "predict", *argv, "--output",
         str(tmp_path / "refused.csv")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "'income'" in refused.stderr and not (tmp_path / "refused.csv").exists()
