"""Model names: validated before anything touches the store, so no name can escape its prefix."""

from __future__ import annotations

from trainpipe.config.registry import model_name_problem
from trainpipe.errors import RegistryError


def validate_model_name(name: str, *, origin: str = "model name") -> str:
    """Return ``name`` if it is a safe registry name, else raise naming the problem.

    Allowed: 1-64 characters of lowercase letters, digits, ``.``, ``_`` and ``-``, starting and
    ending with a letter or digit (so no ``..``, slashes or hidden files).
    """
    problem = model_name_problem(name)
    if problem:
        raise RegistryError(f"{origin}: {problem}")
    return name
