"""Publish every component as compiled YAML, for other pipelines to load.

``trainpipe compile`` (``make compile``) writes ``components/compiled/<name>.yaml`` for each entry
of :data:`COMPONENTS`; another pipeline loads one with
``kfp.components.load_component_from_file``. Descriptions of the inputs and outputs come from
the Google-style docstrings (``Args`` and ``Returns``), with their line breaks joined.
"""

import copy
from pathlib import Path

from kfp.dsl import base_component
from trainpipe_components.evaluate import evaluate_op
from trainpipe_components.image import IMAGE, validate_image
from trainpipe_components.ingest import ingest_op
from trainpipe_components.register import register_op
from trainpipe_components.split import split_op
from trainpipe_components.train import train_op
from trainpipe_components.tune import tune_select_op, tune_setup_op, tune_worker_op
from trainpipe_components.validate import validate_op

COMPILED_DIR = Path(__file__).resolve().parent / "compiled"
COMPONENTS: dict[str, base_component.BaseComponent] = {
    "ingest": ingest_op,
    "split": split_op,
    "tune_setup": tune_setup_op,
    "tune_worker": tune_worker_op,
    "tune_select": tune_select_op,
    "train": train_op,
    "validate": validate_op,
    "evaluate": evaluate_op,
    "register": register_op,
}
"""The published components by file name (``components/compiled/<name>.yaml``)."""


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else text


def publishable(
    component: base_component.BaseComponent, image: str
) -> base_component.BaseComponent:
    """A copy of ``component`` that runs ``image``, its descriptions on one line each."""
    published = copy.copy(component)
    spec = copy.deepcopy(component.component_spec)
    spec.description = _one_line(spec.description)
    for specs in (spec.inputs or {}, spec.outputs or {}):
        for entry in specs.values():
            entry.description = _one_line(entry.description)
    if spec.implementation.container is not None:
        spec.implementation.container.image = image
    published.component_spec = spec
    return published


def compile_components(
    directory: str | Path = COMPILED_DIR, image: str | None = None
) -> list[Path]:
    """Write ``<directory>/<name>.yaml`` for every component; return the paths.

    ``image`` (default: ``TRAINPIPE_IMAGE`` or the release image) is the image each runs.
    """
    from kfp import compiler

    image = validate_image(image or IMAGE)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, component in COMPONENTS.items():
        path = directory / f"{name}.yaml"
        compiler.Compiler().compile(publishable(component, image), str(path))
        paths.append(path)
    return paths
