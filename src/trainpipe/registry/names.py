"""Model names: validated before anything touches the store, so no name can escape its prefix."""

from __future__ import annotations

import re

from trainpipe.errors import RegistryError

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")


def validate_model_name(name: str, *, origin: str = "model name") -> str:
    """Return ``name`` if it is a safe registry name, else raise naming the problem.

    Allowed: 1-64 characters of lowercase letters, digits, ``.``, ``_`` and ``-``, starting and
    ending with a letter or digit (so no ``..``, slashes or hidden files).
    """
    if not _NAME.match(name) or ".." in name:
        raise RegistryError(
            f"{origin}: {name!r} is not a valid model name: use 1-64 lowercase letters, digits, "
            "'.', '_' or '-', starting and ending with a letter or digit (e.g. digits-cnn)"
        )
    return name
