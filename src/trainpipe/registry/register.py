"""Registering a trained model: its lineage and its alias, decided in one place.

The pipeline's register step and ``trainpipe registry register`` both call
:func:`register_model`; they only differ in what they know.

- **Lineage**: the run config; the data hash (the caller's, else the one ``trainpipe train`` kept
  in ``model.json``; when both are known they must agree); the metrics (the evaluate step's
  test-set metrics, else the training run's final metrics); the quality gate and the champion
  comparison (when there is an evaluation); the registered model the run warm-started from
  (``metrics.json`` ``parent``); the tuning's best parameters; the pipeline run id; where the
  model came from. :func:`~trainpipe.registry.lineage.build_lineage` adds the code version and
  environment.
- **Alias**: with an evaluation, the champion alias (``evaluate.champion.alias``, action
  ``promote``) when the evaluate step's comparison says promote, else ``challenger`` (action
  ``set``). Without one there is no alias: a person points one at the version with
  ``trainpipe registry promote``.

Everything is read and checked before the registry is touched, so bad input registers nothing.
:meth:`ModelRegistry.register` makes the version visible only with its lineage (its manifest is
written last); if moving the alias then fails, the version stays complete and the error names it
and the command that sets the alias by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trainpipe.config import RunConfig
from trainpipe.errors import RegistryError, StorageError
from trainpipe.registry.lineage import build_lineage
from trainpipe.registry.names import validate_model_name
from trainpipe.registry.registry import ModelRegistry
from trainpipe.storage.base import ObjectStore
from trainpipe.storage.factory import open_store
from trainpipe.train.model_files import METRICS_KEY, MODEL_FILES, MODEL_KEY

__all__ = ["CHALLENGER", "AliasDecision", "RegisterResult", "decide_alias", "register_model"]

#: The alias of a blessed model that did not (or could not be shown to) beat the champion.
CHALLENGER = "challenger"


@dataclass(frozen=True, kw_only=True)
class AliasDecision:
    """Which alias a new version gets, how the event is recorded, and why."""

    alias: str | None
    """None: the version gets no alias."""
    action: str
    """``promote`` (the champion alias) or ``set``; unused when ``alias`` is None."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class RegisterResult:
    """The registered version and the alias now pointing at it."""

    name: str
    version: int
    uri: str
    alias: str | None
    reason: str
    onnx_missing: str = ""
    """Why the version has no ``model.onnx`` (``registry.onnx: optional``); empty when it has."""
    same_model_as: list[int] = dataclasses.field(default_factory=list)
    """Earlier versions whose model files are byte for byte this one's (the same model directory
    registered again); registering it anyway is allowed, the caller warns."""

    @property
    def ref(self) -> str:
        """``NAME:VERSION``."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return dataclasses.asdict(self)


def decide_alias(evaluation: Mapping[str, Any] | None, *, champion_alias: str) -> AliasDecision:
    """The alias of a newly registered version, from the evaluate step's result.

    ``evaluation`` is the evaluate step's JSON (``Evaluation.to_dict()``); its ``promotion`` is
    the champion comparison. None (no evaluation) gives no alias.

    Raises:
        RegistryError: ``promotion.promote`` is present but not a boolean.
    """
    if evaluation is None:
        return AliasDecision(
            alias=None,
            action="set",
            reason="not evaluated: no alias set; point one at it with trainpipe registry promote",
        )
    promotion = evaluation.get("promotion")
    if not isinstance(promotion, Mapping):
        return AliasDecision(
            alias=CHALLENGER,
            action="set",
            reason="the evaluation holds no champion comparison, so it cannot replace the champion",
        )
    promote = promotion.get("promote")
    if not isinstance(promote, bool):
        raise RegistryError(
            f"the evaluation's promotion.promote must be true or false, got {promote!r}; "
            "pass the evaluation JSON written by the evaluate step"
        )
    reason = str(promotion.get("reason") or "")
    if promote:
        return AliasDecision(alias=champion_alias, action="promote", reason=reason)
    return AliasDecision(alias=CHALLENGER, action="set", reason=reason)


def register_model(
    registry: ModelRegistry,
    model_dir: str,
    *,
    config: RunConfig | None,
    data_hash: str | None = None,
    evaluation: Mapping[str, Any] | None = None,
    best_params: Mapping[str, Any] | None = None,
    run_id: str = "",
    source: str = "",
    name: str | None = None,
) -> RegisterResult:
    """Register the model at ``model_dir`` as the next version, with lineage, then alias it.

    Args:
        registry: the registry to register into.
        model_dir: a model directory or URI written by ``trainpipe train``.
        config: the run config that trained the model (None: none is recorded).
        data_hash: the dataset's content hash; None takes the one saved with the model.
        evaluation: the evaluate step's JSON (metrics, gate, promotion); it must be blessed.
            None: the training run's final metrics are recorded and no alias is set.
        best_params: the tuning study's best parameters (None: no tuning).
        run_id: the pipeline run id.
        source: where the model came from, recorded as is (default ``model_dir``).
        name: the model name (default ``config.registry.model_name``).

    Raises:
        RegistryError: no usable name, the model directory is incomplete, the data hashes
            disagree, the evaluation is malformed or not blessed, the alias name is invalid
            (all before anything is written); or the alias could not be set on the version
            just registered.
    """
    model_name = _model_name(name, config)
    model = open_store(model_dir)
    description, trained = _read_model(model, model_dir)
    recorded_hash = _data_hash(data_hash, description, model_dir)
    if evaluation is not None:
        _check_blessed(evaluation)
    champion_alias = config.evaluate.champion.alias if config is not None else "champion"
    decision = decide_alias(evaluation, champion_alias=champion_alias)
    if decision.alias is not None:
        validate_model_name(decision.alias, origin="alias (evaluate.champion.alias)")

    lineage = build_lineage(
        config=config.to_dict() if config is not None else {},
        data_hash=recorded_hash,
        metrics=dict(evaluation["metrics"] if evaluation is not None else trained.get("final", {})),
        pipeline_run_id=run_id,
        tuning={"best_params": dict(best_params)} if best_params is not None else {},
    )
    if evaluation is not None:
        lineage["gate"] = evaluation["gate"]
        lineage["promotion"] = evaluation.get("promotion")
    lineage["parent"] = trained.get("parent")
    lineage["user_code"] = description.get("code")
    lineage["source"] = source or model_dir

    onnx = config.registry.onnx if config is not None else "optional"
    version = registry.register(model_name, model_dir, lineage=lineage, onnx=onnx)
    if decision.alias is not None:
        try:
            registry.set_alias(
                version.name,
                decision.alias,
                version.version,
                action=decision.action,
                reason=decision.reason,
            )
        except (StorageError, RegistryError, OSError) as exc:
            raise RegistryError(
                f"{version.ref} is registered with its lineage, but pointing "
                f"{version.name}@{decision.alias} at it failed: {exc}; set it with "
                f"`trainpipe registry promote {version.ref} --alias {decision.alias}`"
            ) from exc
    return RegisterResult(
        name=version.name,
        version=version.version,
        uri=version.uri,
        alias=decision.alias,
        reason=decision.reason,
        onnx_missing=_onnx_missing(registry, version.name, version.version),
        same_model_as=list(version.same_model_as),
    )


def _onnx_missing(registry: ModelRegistry, name: str, version: int) -> str:
    onnx = registry.lineage(name, version).get("onnx") or {}
    return "" if onnx.get("exported", True) else str(onnx.get("reason", ""))


def _model_name(name: str | None, config: RunConfig | None) -> str:
    if name:
        return validate_model_name(name)
    if config is None:
        raise RegistryError(
            "register_model needs a model name, or a config whose registry.model_name names it"
        )
    return validate_model_name(config.registry.model_name, origin="registry.model_name")


def _read_model(model: ObjectStore, model_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model.json`` and ``metrics.json`` of a complete model directory."""
    missing = [key for key in MODEL_FILES if not model.exists(key)]
    if missing:
        raise RegistryError(
            f"cannot register {model_dir}: it lacks {missing}; register a model directory "
            "written by trainpipe train"
        )
    description, trained = model.read_json(MODEL_KEY), model.read_json(METRICS_KEY)
    for key, document in ((MODEL_KEY, description), (METRICS_KEY, trained)):
        if not isinstance(document, dict):
            raise RegistryError(
                f"cannot register {model_dir}: {key} holds {type(document).__name__}, not an "
                "object; re-train the model with trainpipe train"
            )
    parent = trained.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise RegistryError(
            f"cannot register {model_dir}: {METRICS_KEY} parent must be a NAME:VERSION string "
            f"or null, got {parent!r}"
        )
    return description, trained


def _data_hash(given: str | None, description: dict[str, Any], model_dir: str) -> str:
    """The caller's data hash, or the one saved with the model; they must not disagree."""
    saved = str(description.get("data_hash") or "")
    if not given:
        return saved
    if saved and saved != given:
        raise RegistryError(
            f"cannot register {model_dir}: it was trained on data with hash {saved} "
            f"({MODEL_KEY} data_hash) but the registration names data hash {given}; register it "
            "with the dataset it was trained on"
        )
    return given


def _check_blessed(evaluation: Mapping[str, Any]) -> None:
    """Only a model the evaluate step blessed is registered (cf. TFX's Pusher)."""
    metrics, gate = evaluation.get("metrics"), evaluation.get("gate")
    if not isinstance(metrics, Mapping) or not isinstance(gate, Mapping):
        raise RegistryError(
            "the evaluation must hold 'metrics' and 'gate' objects (got "
            f"metrics={type(metrics).__name__}, gate={type(gate).__name__}); pass the evaluation "
            "JSON written by the evaluate step"
        )
    if gate.get("blessed") is not True:
        raise RegistryError(
            f"the evaluation did not bless the model ({gate.get('reason', 'no reason given')}); "
            "only a blessed model is registered"
        )
