"""The container image every component runs in.

Components are declared with :data:`IMAGE` (``TRAINPIPE_IMAGE`` when set at import, else
:data:`DEFAULT_IMAGE`). ``trainpipe compile --image IMAGE`` (``make compile IMAGE=...``) rewires an
already-built pipeline with :func:`pipeline_with_image`, so one process can compile for any image.
"""

import copy
import os

from kfp.dsl import base_component

DEFAULT_IMAGE = "ghcr.io/trainpipe/trainpipe:0.1.0-cpu"
IMAGE = os.environ.get("TRAINPIPE_IMAGE") or DEFAULT_IMAGE  # set-but-empty means default


def validate_image(image: str) -> str:
    """Return ``image`` stripped, or raise ``ConfigError`` naming it when it is not a reference."""
    from trainpipe.errors import ConfigError

    image = image.strip()
    if not image or any(c.isspace() for c in image) or image.startswith(("-", "/", ":")):
        raise ConfigError(
            f"image {image!r} is not an image reference: pass REGISTRY/NAME:TAG "
            "(for example ghcr.io/trainpipe/trainpipe:0.1.0-cpu)"
        )
    return image


def pipeline_with_image(
    pipeline: base_component.BaseComponent, image: str
) -> base_component.BaseComponent:
    """A copy of a compiled-in-memory pipeline whose every executor runs ``image``.

    ``@dsl.pipeline`` builds the pipeline spec when the module is imported, so the image that
    ``@dsl.component(base_image=...)`` saw then is already in it; this rewrites the executors of
    the copy's IR (``deploymentSpec.executors.*.container.image``), including those of nested
    sub-DAGs, and leaves ``pipeline`` itself untouched.
    """
    image = validate_image(image)
    rewired = copy.copy(pipeline)
    rewired.component_spec = copy.deepcopy(pipeline.component_spec)
    executors = rewired.pipeline_spec.deployment_spec["executors"]
    for name in executors:
        if "container" in executors[name]:
            executors[name]["container"]["image"] = image
    return rewired
