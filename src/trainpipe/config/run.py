"""The whole run: one document with a section per stage, built and checked as one."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trainpipe.config.building import build
from trainpipe.config.data import DataConfig, SplitConfig
from trainpipe.config.evaluate import EvaluateConfig
from trainpipe.config.job import JobConfig
from trainpipe.config.model import ModelConfig
from trainpipe.config.monitor import MonitorConfig
from trainpipe.config.problems import Problems
from trainpipe.config.registry import RegistryConfig
from trainpipe.config.tracking import TrackingConfig
from trainpipe.config.train import TrainConfig
from trainpipe.config.tune import TuneConfig
from trainpipe.errors import ConfigError

__all__ = ["RunConfig", "Task", "set_dotted"]

Task = Literal["classification", "regression"]
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(kw_only=True)
class RunConfig:
    """A whole run: data, split, model, training, tuning, evaluation, registry and tracking."""

    name: str = "trainpipe"
    task: Task = "classification"
    seed: int = 42
    data: DataConfig
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    job: JobConfig = field(default_factory=JobConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    code: str = ""
    """The user's code: a local folder or an S3 URI. ``trainpipe run`` and ``submit`` pack it
    once into a content-addressed archive that every step and training pod fetches, by digest,
    before importing from it (a folder with a pyproject.toml is installed, a plain folder goes on
    ``sys.path``). Empty: the code is in the image. A relative folder is relative to the config
    file."""
    code_digest: str = ""
    """``sha256:<hex>`` of the packed archive that ``code`` then names; set by packing."""
    stage_records: str = ""
    """Where every pipeline stage writes its record (a directory or URI): status, wall, core and
    overhead seconds, the error it failed with, its outputs. ``trainpipe run`` points it at the
    run directory's ``stages/`` and builds ``summary.json`` from the records; empty: none."""

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-compatible data."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Serialize to the one JSON document that crosses process boundaries."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        origin: str = "config",
        overrides: Mapping[str, str] | None = None,
    ) -> RunConfig:
        """Build and check a config from plain data; ``origin`` names it in errors.

        ``overrides`` maps the dotted keys that command-line overrides set to the override
        (``--set train.epochs=3``), which a problem of such a key names.

        Raises:
            ConfigError: listing every problem of the document (unknown or missing keys, wrong
                types, bad values, settings that contradict each other).
        """
        problems = Problems(origin, overrides=dict(overrides or {}))
        config = build(cls, data, problems)
        if config is not None:
            config.check(problems)
        problems.raise_if_any()
        assert config is not None  # a config that could not be built has problems
        return config

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text), origin="config JSON")

    def with_overrides(
        self, overrides: Mapping[str, Any], *, origin: str = "overrides"
    ) -> RunConfig:
        """Return a copy with dotted-key overrides applied and checked."""
        data = self.to_dict()
        for key, value in overrides.items():
            set_dotted(data, key, value, origin)
        return RunConfig.from_dict(data, origin=origin)

    def check(self, problems: Problems) -> None:
        """Every section's value rules, each in the section it checks, into ``problems``."""
        problems.need(self.seed >= 0, "seed", ">= 0", self.seed)
        problems.need(
            not self.code_digest or (bool(_DIGEST.match(self.code_digest)) and bool(self.code)),
            "code_digest",
            "'sha256:' and 64 hex digits, with code naming the archive (set by packing)",
            self.code_digest,
        )
        self.data.check(problems, model=self.model)
        self.split.check(problems, data=self.data)
        self.model.check(problems)
        self.train.check(problems, task=self.task, model=self.model, data=self.data)
        self.monitor.check(problems)
        self.job.check(problems, train=self.train)
        tunable = {"train": self.train, "model": self.model}
        self.tune.check(problems, task=self.task, tunable=tunable)
        self.evaluate.check(problems, task=self.task, sanity_checks=self.train.sanity_checks)
        self.registry.check(problems)
        self.tracking.check(problems)


def set_dotted(data: dict[str, Any], key: str, value: Any, origin: str) -> None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"``, creating missing sections."""
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(f"{origin}: cannot set {key}: {prefix} is not a section")
        node = child
    node[parts[-1]] = value
