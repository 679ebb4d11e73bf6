"""The ``registry`` section: where blessed models are registered, and what a model name may be."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from trainpipe.config.problems import Problems

__all__ = ["RegistryConfig", "model_name_problem"]

_MODEL_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")


def model_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a registered model (or alias), or None when it can.

    Allowed: 1-64 characters of lowercase letters, digits, ``.``, ``_`` and ``-``, starting and
    ending with a letter or digit (so no ``..``, slashes or hidden files that could escape the
    model's prefix in the store).
    """
    if _MODEL_NAME.match(name) and ".." not in name:
        return None
    return (
        f"{name!r} is not a valid model name: use 1-64 lowercase letters, digits, '.', '_' or "
        "'-', starting and ending with a letter or digit (e.g. digits-cnn)"
    )


@dataclass(kw_only=True)
class RegistryConfig:
    """Where blessed models are registered."""

    uri: str = "runs/registry"
    model_name: str = "model"
    onnx: Literal["optional", "required"] = "optional"
    """``optional``: a model that does not export to ONNX (or whose export does not match
    PyTorch) is registered without ``model.onnx``, the reason recorded in its lineage and model
    card; ``required``: such a model is not registered."""

    def check(self, problems: Problems) -> None:
        """A registry location and a valid model name."""
        problems.need(bool(self.uri.strip()), "registry.uri", "a path or URI", self.uri)
        problem = model_name_problem(self.model_name)
        if problem and not problems.involves_bad("registry.model_name"):
            problems.add("registry.model_name", f"registry.model_name: {problem}")
