"""The model registry: immutable numbered versions with lineage, on a directory or MinIO/S3.

``trainpipe.registry.load("digits-cnn", "champion")`` loads a registered model for inference
(:func:`trainpipe.registry.registry.load`); it is imported on first use, so importing a
submodule such as the registry's naming rules does not import torch.
"""

from __future__ import annotations

__all__ = ["load"]


def __getattr__(name: str) -> object:
    if name == "load":
        from trainpipe.registry.registry import load

        return load
    raise AttributeError(f"module 'trainpipe.registry' has no attribute {name!r}")
