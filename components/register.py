"""Register component: add a blessed model to the registry as its next version, with lineage."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model
from trainpipe_components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register_op(
    config_json: str,
    best_params: str,
    run_id: str,
    dataset: Input[Dataset],
    model: Input[Model],
    evaluation: Input[Artifact],
) -> NamedTuple("RegisterOutputs", [("name", str), ("version", int), ("uri", str)]):  # type: ignore[valid-type]
    """Register the model; runs only when the evaluate step blessed it.

    Args:
        config_json: The run configuration as one JSON document (a trainpipe run config, see
            pipelines/configs/); the same document for every step of a run.
        best_params: The tuned parameters (JSON), recorded in the lineage; ``{}`` for none.
        run_id: The pipeline run's id, recorded in the lineage.
        dataset: The data the model was made from: its ``data_hash`` metadata (ingest sets it)
            goes into the lineage; a Dataset without one (a plain table) leaves the hash of
            the training table that the model recorded.
        model: The trained model (the train step's output).
        evaluation: The evaluation JSON (the evaluate step's ``evaluation`` output).

    Returns:
        name: The registered model's name (``registry.model_name``).
        version: The new version number.
        uri: Where the version is stored in the registry (``registry.uri``).
    """
    import json
    from collections import namedtuple

    from trainpipe.runs.stages import record_stage
    from trainpipe.tracking.stages import tracked_stage
    from trainpipe.usercode.activation import run_config

    config = run_config(config_json)
    with (
        record_stage(config.stage_records, "register") as stage,
        tracked_stage(
            config, "register", run_id=run_id, model=model.path, outputs=stage.outputs
        ) as tracking,
    ):
        from trainpipe.registry.register import register_model
        from trainpipe.registry.registry import ModelRegistry
        from trainpipe.tracking.stages import log_registration

        with open(evaluation.path, encoding="utf-8") as handle:
            result = json.load(handle)
        registry = ModelRegistry.open(config.registry.uri)
        with stage.core():
            registered = register_model(
                registry,
                model.path,
                config=config,
                data_hash=str(dataset.metadata.get("data_hash", "")),
                evaluation=result,
                best_params=json.loads(best_params or "{}"),
                run_id=run_id,
                source=model.uri,
            )
        stage.outputs.update(
            name=registered.name,
            version=registered.version,
            uri=registered.uri,
            alias=registered.alias,
        )
        log_registration(tracking, registered, registry=registry)
        if registered.onnx_missing:
            stage.outputs["notices"] = [
                f"register: {registered.ref} has no model.onnx: {registered.onnx_missing}"
            ]
    print(f"[trainpipe] registered {registered.ref} at {registered.uri}")
    print(
        f"[trainpipe] {registered.name}@{registered.alias} -> {registered.version}: "
        f"{registered.reason}"
    )
    RegisterOutputs = namedtuple("RegisterOutputs", ["name", "version", "uri"])
    return RegisterOutputs(registered.name, registered.version, registered.uri)
