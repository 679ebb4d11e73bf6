"""The training pipeline: ingest -> split -> tune (fan-out, fan-in) -> train -> validate -> evaluate
-> register (only when blessed).

Compile with ``trainpipe compile`` (or ``make compile``); the compiled YAML is kept in
``pipelines/compiled/`` and uploads as-is to the Kubeflow dashboard.
"""

from collections.abc import Sequence
from pathlib import Path

from kfp import dsl
from kfp.dsl import PipelineTask
from trainpipe_components import (
    evaluate_op,
    ingest_op,
    register_op,
    split_op,
    train_op,
    tune_select_op,
    tune_setup_op,
    tune_worker_op,
    validate_op,
)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits.yaml"
COMPILED = Path(__file__).resolve().parent / "compiled" / "training_pipeline.yaml"
# On a cluster every step reads and writes the artifact store through these (manifests/base);
# both optional, so a run that only touches local paths needs neither. kfp.local ignores them.
STORAGE_CONFIG_MAP = "trainpipe-storage"
STORAGE_SECRET = "trainpipe-s3-credentials"


def _use_cluster_storage(task: PipelineTask) -> None:
    """Give ``task``'s pod the S3 endpoint and credentials, by reference to the ConfigMap and
    Secret, never by value."""
    from kfp import kubernetes

    kubernetes.use_config_map_as_env(
        task,
        config_map_name=STORAGE_CONFIG_MAP,
        config_map_key_to_env={k: k for k in ("TRAINPIPE_S3_ENDPOINT", "TRAINPIPE_S3_SECURE")},
        optional=True,
    )
    kubernetes.use_secret_as_env(
        task,
        secret_name=STORAGE_SECRET,
        secret_key_to_env={k: k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        optional=True,
    )


def _default_config_json(
    image: str | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> str:
    """The default run config: ``config`` (default pipelines/configs/digits.yaml) with its
    ``overrides``; ``image`` also becomes the training pods' ``job.image``."""
    from trainpipe.config import load_config

    extra = [f"job.image={image}"] if image else []
    return load_config(config or DEFAULT_CONFIG, [*overrides, *extra]).to_json()


@dsl.pipeline(
    name="trainpipe-training",
    description=(
        "Ingest, split, tune, train (DDP), validate, evaluate and register a model. "
        "Start runs with the service account trainpipe-launcher (manifests/base): the train "
        "step creates PyTorchJobs."
    ),
)
def training_pipeline(config_json: str = _default_config_json()) -> None:
    """The whole training pipeline.

    Args:
        config_json: The run configuration as one JSON document (see pipelines/configs/);
            the default is the config the pipeline was compiled with (``trainpipe compile
            --config``; pipelines/configs/digits.yaml when none was given). Its
            ``tune.parallel_trials`` says how many tuning workers fan out.
    """
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
    ingest = ingest_op(config_json=config_json).set_display_name("ingest")
    split = split_op(config_json=config_json, dataset=ingest.outputs["dataset"])
    split.set_display_name("split")
    setup = tune_setup_op(config_json=config_json, run_id=run_id).set_display_name("tune-setup")
    with dsl.ParallelFor(setup.output, name="tune-workers") as worker:
        tune_worker = tune_worker_op(
            config_json=config_json,
            worker=worker,
            run_id=run_id,
            train=split.outputs["train"],
            validation=split.outputs["validation"],
        ).set_display_name("tune-worker")
        tune_worker.after(setup)
    select = tune_select_op(config_json=config_json, run_id=run_id).after(tune_worker)
    select.set_display_name("tune-select")
    train = train_op(
        config_json=config_json,
        best_params=select.outputs["Output"],
        run_id=run_id,
        train=split.outputs["train"],
        validation=split.outputs["validation"],
    ).set_display_name("train")
    validate = validate_op(
        config_json=config_json,
        model=train.outputs["model"],
        validation=split.outputs["validation"],
    ).set_display_name("validate")
    evaluate = evaluate_op(
        config_json=config_json,
        model=train.outputs["model"],
        validation=split.outputs["validation"],
        test=split.outputs["test"],
    ).set_display_name("evaluate")
    evaluate.after(validate)
    with dsl.If(evaluate.outputs["Output"] == True, name="blessed"):  # noqa: E712 - a KFP condition
        register = register_op(
            config_json=config_json,
            best_params=select.outputs["Output"],
            run_id=run_id,
            dataset=ingest.outputs["dataset"],
            model=train.outputs["model"],
            evaluation=evaluate.outputs["evaluation"],
        ).set_display_name("register")
    for task in (ingest, split, setup, tune_worker, select, train, validate, evaluate, register):
        _use_cluster_storage(task)


def compile_pipeline(
    path: str | Path = COMPILED,
    image: str | None = None,
    *,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> Path:
    """Compile the pipeline to YAML at ``path``.

    ``image`` (default: ``TRAINPIPE_IMAGE`` or the release image) is what every step runs and the
    default ``job.image`` of the training pods. ``config`` (a run config file, with ``--set``
    style ``overrides``; default pipelines/configs/digits.yaml) is the default of the pipeline's
    ``config_json`` parameter, validated before anything is written.
    """
    from kfp import compiler
    from trainpipe_components.image import IMAGE, pipeline_with_image

    image = image or IMAGE
    pipeline = pipeline_with_image(training_pipeline, image)
    default = _default_config_json(image, config, overrides)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(path), pipeline_parameters={"config_json": default})
    return path
