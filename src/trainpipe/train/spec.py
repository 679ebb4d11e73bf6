"""The one JSON document a training job receives: the run config plus artifact locations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainpipe.config import RunConfig, parse_override
from trainpipe.errors import ConfigError
from trainpipe.storage.uri import join_uri

SPEC_ENV = "TRAINPIPE_TRAIN_SPEC"
"""Environment variable that may carry the spec instead of ``--spec`` (cluster pods)."""


@dataclass(kw_only=True)
class TrainSpec:
    """Everything a training process needs; locations are paths or object-store URIs."""

    config: RunConfig
    train_data: str
    validation_data: str
    output: str
    """Where the model is written (``model.safetensors``, ``model.json``, ``metrics.json``)."""
    checkpoints: str = ""
    """Where per-epoch checkpoints go; defaults to ``<output>/checkpoints``."""
    run_id: str = ""
    tracking_run: str = ""
    """The pipeline's MLflow run that rank 0 logs each epoch to (``tracking.mlflow``), as the
    launching stage opened it; empty: no per-epoch tracking."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Dotted config keys applied on load. String values are read as YAML, so a Katib trial
    template can substitute ``"${trialParameters.x}"`` and get a number."""

    @property
    def checkpoint_location(self) -> str:
        """The checkpoint location, defaulted from the output."""
        return self.checkpoints or join_uri(self.output, "checkpoints")

    def to_json(self) -> str:
        """Serialize for the job's ``--spec`` argument."""
        return json.dumps(
            {
                "config": self.config.to_dict(),
                "train_data": self.train_data,
                "validation_data": self.validation_data,
                "output": self.output,
                "checkpoints": self.checkpoints,
                "run_id": self.run_id,
                "tracking_run": self.tracking_run,
                "overrides": self.overrides,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> TrainSpec:
        """Parse a spec written by :meth:`to_json`, validating its config."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"training spec is not valid JSON: {exc}") from exc
        missing = {"config", "train_data", "validation_data", "output"} - set(data)
        if missing:
            raise ConfigError(f"training spec lacks {sorted(missing)}")
        config = RunConfig.from_dict(data["config"], origin="training spec")
        overrides = dict(data.get("overrides") or {})
        if overrides:
            parsed = {
                key: parse_override(f"{key}={value}")[1] if isinstance(value, str) else value
                for key, value in overrides.items()
            }
            config = config.with_overrides(parsed, origin="training spec overrides")
        return cls(
            config=config,
            train_data=data["train_data"],
            validation_data=data["validation_data"],
            output=data["output"],
            checkpoints=data.get("checkpoints", ""),
            run_id=data.get("run_id", ""),
            tracking_run=data.get("tracking_run", ""),
            overrides=overrides,
        )

    @classmethod
    def load(cls, value: str) -> TrainSpec:
        """Read a spec from a JSON string or from the path of a JSON file."""
        text = value
        if not value.lstrip().startswith("{"):
            path = Path(value)
            if not path.is_file():
                raise ConfigError(f"training spec file {value} does not exist")
            text = path.read_text(encoding="utf-8")
        return cls.from_json(text)
