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
        from trainpipe.registry import ModelRegistry, build_lineage

        with open(evaluation.path, encoding="utf-8") as handle:
            result = json.load(handle)
        lineage = build_lineage(
            config=config.to_dict(),
            data_hash=str(dataset.metadata.get("data_hash", "")),
            metrics=result["metrics"],
            pipeline_run_id=run_id,
            tuning={"best_params": json.loads(best_params or "{}")},
        )
        lineage["gate"] = result["gate"]
        lineage["promotion"] = result.get("promotion")
        with open(f"{model.path}/metrics.json", encoding="utf-8") as handle:
            lineage["parent"] = json.load(handle).get("parent")
        promotion = result.get("promotion") or {}
        alias = config.evaluate.champion.alias if promotion.get("promote") else "challenger"
        with stage.core():
            registry = ModelRegistry.open(config.registry.uri)
            version = registry.register(config.registry.model_name, model.path, lineage=lineage)
            registry.set_alias(
                version.name,
                alias,
                version.version,
                action="promote" if promotion.get("promote") else "set",
                reason=str(promotion.get("reason", "")),
            )
        stage.outputs.update(
            name=version.name, version=version.version, uri=version.uri, alias=alias
        )
    print(f"[trainpipe] registered {version.name}:{version.version} at {version.uri}")
    print(f"[trainpipe] {version.name}@{alias} -> {version.version}: {promotion.get('reason')}")
    RegisterOutputs = namedtuple("RegisterOutputs", ["name", "version", "uri"])
    return RegisterOutputs(version.name, version.version, version.uri)
