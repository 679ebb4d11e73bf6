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
    """Register the model; runs only when the evaluate step blessed it."""
    import json
    from collections import namedtuple

    from trainpipe.config import RunConfig
    from trainpipe.runs.stages import record_stage

    config = RunConfig.from_json(config_json)
    with record_stage(config.stage_records, "register") as stage:
        from trainpipe.registry.register import register_model
        from trainpipe.registry.registry import ModelRegistry

        with open(evaluation.path, encoding="utf-8") as handle:
            result = json.load(handle)
        with stage.core():
            registered = register_model(
                ModelRegistry.open(config.registry.uri),
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
    print(f"[trainpipe] registered {registered.ref} at {registered.uri}")
    print(
        f"[trainpipe] {registered.name}@{registered.alias} -> {registered.version}: "
        f"{registered.reason}"
    )
    RegisterOutputs = namedtuple("RegisterOutputs", ["name", "version", "uri"])
    return RegisterOutputs(registered.name, registered.version, registered.uri)
