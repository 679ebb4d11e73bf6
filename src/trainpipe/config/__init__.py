"""Typed run configuration: one YAML document describes a whole run.

Every stage reads its own section of :class:`RunConfig`; each section is a dataclass in a module
of its own here, and carries the value rules that check it. A config is loaded from YAML or JSON
(:func:`load_config`), overridden with ``key.path=value`` pairs (``--set`` on the command line)
and checked before any side effect: every unknown key, wrong type and bad value of the document is
collected and raised at once as :class:`~trainpipe.errors.ConfigError`, with the file, the dotted
key and the offending value. Configs cross process boundaries as one JSON document
(:meth:`RunConfig.to_json` / :meth:`RunConfig.from_json`).

This package imports nothing of trainpipe but :mod:`trainpipe.errors`, and no third-party package
but PyYAML: every stage can read its config without importing torch, the registry or a backend.
"""

from __future__ import annotations

from trainpipe.config.data import CsvConfig, DataConfig, MissingPolicy, SplitConfig
from trainpipe.config.evaluate import ChampionConfig, EvaluateConfig
from trainpipe.config.job import JobConfig
from trainpipe.config.loading import load_config, parse_override
from trainpipe.config.model import ModelConfig, ModelKind
from trainpipe.config.monitor import MonitorConfig
from trainpipe.config.registry import RegistryConfig
from trainpipe.config.run import RunConfig, Task
from trainpipe.config.tracking import TrackingConfig
from trainpipe.config.train import Augmentation, Optimizer, TrainConfig
from trainpipe.config.tune import (
    MULTI_OBJECTIVE_SAMPLERS,
    TUNABLE_METRICS,
    CrossValidation,
    Direction,
    Objective,
    ParamSpec,
    ParamType,
    Pruner,
    Sampler,
    TuneConfig,
)

__all__ = [
    "MULTI_OBJECTIVE_SAMPLERS",
    "TUNABLE_METRICS",
    "Augmentation",
    "ChampionConfig",
    "CrossValidation",
    "CsvConfig",
    "DataConfig",
    "Direction",
    "EvaluateConfig",
    "JobConfig",
    "MissingPolicy",
    "ModelConfig",
    "ModelKind",
    "MonitorConfig",
    "Objective",
    "Optimizer",
    "ParamSpec",
    "ParamType",
    "Pruner",
    "RegistryConfig",
    "RunConfig",
    "Sampler",
    "SplitConfig",
    "Task",
    "TrackingConfig",
    "TrainConfig",
    "TuneConfig",
    "load_config",
    "parse_override",
]
