"""``tune.warm_start: champion``: the registry champion's parameters as the study's first trial.

The champion's lineage holds the config it was trained with; its value of each search-space key
becomes the first (enqueued) trial. A value the space cannot take (outside the range, not a
choice, a key the champion's config lacks) is left to the sampler, and the notice says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.config.tune import ParamSpec
from trainpipe.errors import RegistryError


@dataclass
class WarmStart:
    """The parameters to try first, from which model, and what was left to the sampler."""

    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    """The champion's ``NAME:VERSION``; empty when there is none."""
    notice: str = ""


def warm_start_for(config: RunConfig) -> WarmStart:
    """What ``tune.warm_start`` puts first in the study (nothing for ``none``)."""
    if config.tune.warm_start == "champion":
        return champion_params(config)
    return WarmStart()


def champion_params(config: RunConfig) -> WarmStart:
    """The search-space values the champion was trained with (``tune.warm_start: champion``);
    an empty :class:`WarmStart`, with a notice, when the registry has no champion yet."""
    from trainpipe.registry.registry import ModelRegistry

    ref = f"{config.registry.model_name}@{config.evaluate.champion.alias}"
    try:
        registry = ModelRegistry.open(config.registry.uri)
        champion = registry.resolve(ref)
        trained = registry.lineage(champion.name, champion.version).get("config") or {}
    except RegistryError as exc:
        return WarmStart(notice=f"tune.warm_start: no champion to start from ({exc})")
    params: dict[str, Any] = {}
    left: list[str] = []
    for name, spec in config.tune.search_space.items():
        found, value = _lookup(trained, name)
        if found and _fits(spec, value):
            params[name] = value
        else:
            left.append(f"{name} ({'not in its config' if not found else repr(value)})")
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items()) or "nothing"
    notice = f"tune.warm_start: the first trial tries {champion.ref}'s {shown}"
    if left:
        notice += f"; left to the sampler, outside the search space: {', '.join(left)}"
    return WarmStart(params=params, source=champion.ref, notice=notice)


def _lookup(config: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _fits(spec: ParamSpec, value: Any) -> bool:
    if spec.type == "categorical":
        return value in spec.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    assert spec.low is not None and spec.high is not None  # checked by config validation
    if spec.type == "int" and int(value) != value:
        return False
    return spec.low <= value <= spec.high
