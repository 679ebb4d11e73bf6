"""Load a run config from a YAML or JSON file, with ``key.path=value`` overrides."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from trainpipe.config.run import RunConfig, set_dotted
from trainpipe.errors import ConfigError

__all__ = ["load_config", "parse_override", "yaml_load"]


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Load a YAML/JSON config file and apply ``key.path=value`` overrides.

    A relative ``code:`` folder is resolved against the config file's folder. A problem of a
    value an override set names the override (``(from --set train.epochs=three)``).

    Raises:
        ConfigError: the file is missing or not a YAML mapping, an override is malformed, or the
            document has problems (all of them are listed, each with its dotted key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: pass --config with a YAML file")
    try:
        data = yaml_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping at the top level, got {data!r}")
    overridden: dict[str, str] = {}
    for item in overrides:
        key, value = parse_override(item)
        source = f"--set {item.strip()}"
        set_dotted(data, key, value, f"{path}: {source}")
        overridden.pop(key, None)  # the last override of a key is the one in force
        overridden[key] = source
    code = data.get("code")
    if isinstance(code, str) and code and "://" not in code and not data.get("code_digest"):
        data["code"] = str((path.parent / Path(code).expanduser()).resolve())
    return RunConfig.from_dict(data, origin=str(path), overrides=overridden)


YAML_NULLS = frozenset({"null", "Null", "NULL", "~"})


def parse_override(item: str) -> tuple[str, Any]:
    """Parse ``key.path=value``; the value is read as YAML (``0.1``, ``true``, ``[1, 2]``),
    except a text that YAML cannot read or reads as nothing but is not ``null`` (``%``, ``#``,
    ``@x``: what a ``data.csv`` setting may be), which is the text itself."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form key.path=value")
    text = raw.strip()
    if not text:
        return key.strip(), ""
    try:
        value = yaml_load(raw)
    except yaml.YAMLError:
        return key.strip(), text
    if value is None and text not in YAML_NULLS:  # a YAML comment: '#'
        return key.strip(), text
    return key.strip(), value


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads YAML 1.2 floats: ``1e-3`` is a number, not the string '1e-3'."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def yaml_load(text: str) -> Any:
    """Parse YAML safely, reading ``1e-3`` as a float (YAML 1.2) rather than a string."""
    return yaml.load(text, Loader=_Loader)
