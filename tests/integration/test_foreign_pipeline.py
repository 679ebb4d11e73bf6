"""trainpipe's published components in a pipeline that is not trainpipe's.

The user's own ingest component (plain pandas) writes its table as a CSV and a Parquet file;
trainpipe's train, evaluate and register, loaded from ``components/compiled/*.yaml``, train on
those plain tables, evaluate the model and register it. The pipeline compiles and runs through
kfp.local as a user would run it.
"""

# No `from __future__ import annotations` here: KFP reads the component's annotations as types.
from pathlib import Path

import pandas as pd
import pytest
from kfp import compiler, components, dsl, local
from kfp.dsl import Dataset, Output

from trainpipe.config import RunConfig
from trainpipe.data.table_input import read_input_dataset
from trainpipe.registry.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPILED = Path(__file__).resolve().parents[2] / "components" / "compiled"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def load_flowers(source: str, train: Output[Dataset], holdout: Output[Dataset]) -> None:
    """The user's own ingest: read their CSV, add an id, hold a third of the rows out."""
    import pandas as pd

    table = pd.read_csv(source)
    table.insert(0, "flower_id", range(10_000, 10_000 + len(table)))
    table = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    cut = 2 * len(table) // 3
    table.iloc[:cut].to_csv(train.path, index=False)
    table.iloc[cut:].to_parquet(holdout.path, index=False)


def _flower_pipeline(config_json: str) -> dsl.graph_component.GraphComponent:
    train_op = components.load_component_from_file(str(COMPILED / "train.yaml"))
    evaluate_op = components.load_component_from_file(str(COMPILED / "evaluate.yaml"))
    register_op = components.load_component_from_file(str(COMPILED / "register.yaml"))

    @dsl.pipeline(name="flowers")
    def flowers(source: str) -> None:
        ingest = load_flowers(source=source)
        train = train_op(
            config_json=config_json,
            best_params="{}",
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            train=ingest.outputs["train"],
            validation=ingest.outputs["holdout"],
        )
        evaluate = evaluate_op(
            config_json=config_json,
            model=train.outputs["model"],
            validation=ingest.outputs["holdout"],
            test=ingest.outputs["holdout"],
        )
        with dsl.If(evaluate.outputs["Output"] == True):  # noqa: E712 - a KFP condition
            register_op(
                config_json=config_json,
                best_params="{}",
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                dataset=ingest.outputs["train"],
                model=train.outputs["model"],
                evaluation=evaluate.outputs["evaluation"],
            )

    return flowers


def test_a_foreign_pipeline_trains_evaluates_and_registers_with_the_published_components(
    tmp_path: Path,
) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    table = iris.frame.drop(columns=["target"]).assign(
        species=[iris.target_names[i] for i in iris.target]
    )
    source = tmp_path / "flowers.csv"
    table.to_csv(source, index=False)
    registry = tmp_path / "registry"
    config = RunConfig.from_dict(
        {
            "name": "flowers",
            "task": "classification",
            "data": {"source": str(source), "label": "species"},
            "model": {"kind": "mlp", "hidden": [16]},
            "train": {"epochs": 8, "learning_rate": 0.03, "nproc_per_node": 1},
            "tune": {"max_trials": 0},
            "evaluate": {"require_beat_baseline": False, "thresholds": {"accuracy_min": 0.8}},
            "registry": {"uri": str(registry), "model_name": "flowers-mlp"},
        }
    )
    pipeline = _flower_pipeline(config.to_json())
    compiler.Compiler().compile(pipeline, str(tmp_path / "flowers.yaml"))
    spec = (tmp_path / "flowers.yaml").read_text()
    assert "load-flowers" in spec and "train-op" in spec and "register-op" in spec

    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "artifacts"),
        raise_on_error=True,
    )
    pipeline(source=str(source))

    models = ModelRegistry.open(str(registry))
    (version,) = models.list_versions("flowers-mlp")
    assert version.version == 1 and version.metrics["accuracy"] >= 0.8
    # The lineage holds the hash of the user's training table, read from their plain CSV, and
    # the model's features are the table's columns but the id that ingest's rules leave out.
    (run,) = (tmp_path / "artifacts").iterdir()
    _, schema = read_input_dataset(str(run / "load-flowers" / "train"), config)
    assert models.lineage("flowers-mlp", 1)["data_hash"] == schema.data_hash
    assert schema.features == list(iris.feature_names)
    loaded = models.load("flowers-mlp:1")
    holdout = pd.read_parquet(run / "load-flowers" / "holdout")
    predicted = [loaded.classes[i] for i in loaded.predict(holdout)]
    assert (pd.Series(predicted) == holdout["species"]).mean() >= 0.8
