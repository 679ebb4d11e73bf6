"""Typed run configuration: one YAML document describes a whole run.

Every stage reads its own section of :class:`RunConfig`. A config is loaded from YAML or JSON,
overridden with ``key.path=value`` pairs (``--set`` on the command line) and validated before any
side effect: unknown keys, wrong types and bad values raise
:class:`~trainpipe.errors.ConfigError` with the file, the dotted key and the offending value.
Configs cross process boundaries as one JSON document (:meth:`RunConfig.to_json` /
:meth:`RunConfig.from_json`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from trainpipe.errors import ConfigError

Task = Literal["classification", "regression"]
TUNABLE_METRICS = {
    "classification": ("val_loss", "val_accuracy", "train_loss", "train_accuracy"),
    "regression": ("val_loss", "train_loss"),
}
MULTI_OBJECTIVE_SAMPLERS = ("nsga2", "tpe", "random", "grid", "gp")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MissingPolicy = Literal["drop", "mean", "median", "mode", "constant", "fail"]
ModelKind = Literal["mlp", "cnn", "transformer"]
Optimizer = Literal["adamw", "adam", "sgd"]
Sampler = Literal["tpe", "random", "grid", "gp", "cmaes", "nsga2"]
Pruner = Literal["none", "median", "hyperband"]
Direction = Literal["maximize", "minimize"]
ParamType = Literal["float", "int", "categorical"]


@dataclass(kw_only=True)
class DataConfig:
    """Where the data comes from and how ingest cleans it."""

    source: str
    """A local path, an ``s3://``/``minio://`` URI (CSV or Parquet), or ``builtin:NAME``."""
    label: str = "target"
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    missing: MissingPolicy = "drop"
    """What to do with missing feature values: drop rows, impute (mean, median, mode, or
    ``fill_value``), or fail."""
    fill_value: float = 0.0
    """The value ``missing: constant`` fills numeric features with (categories get "missing")."""
    drop_duplicates: bool = True
    text: str = ""
    """A free-text feature column (text classification): tokenized into lowercased words, mapped
    through a vocabulary fitted on the training split and fed to ``model.kind: transformer`` as
    ``max_tokens`` token ids; it must be the only feature besides the label."""
    vocab_size: int = 5000
    """Vocabulary size for ``text``, padding and unknown-word ids included."""
    max_tokens: int = 64
    """Words kept per text (longer texts are cut, shorter ones padded)."""
    categorical: list[str] = field(default_factory=list)
    """Feature columns holding categories: one-hot encoded with the categories of the training
    split (saved with the model; an unseen category encodes as all zeros)."""
    stream_threshold_mb: int = 512
    """Local CSV files larger than this are ingested as a stream of record batches (bounded
    memory; statistics, duplicates, schema and drift checks in one pass)."""
    duplicate_keys: list[str] = field(default_factory=list)
    """Also drop rows whose values in these key columns repeat an earlier row's."""
    clip_quantile: float = 0.0
    """Clip every feature to its [q, 1-q] quantiles of the training split (0: no clipping);
    the bounds are saved with the model and applied at evaluation and inference."""
    schema: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Declared column schemas (``kind``, ``min``, ``max``, ``values``, ``nullable``) that the
    data must satisfy; empty: inferred on this run and saved for the next."""
    baseline: str = ""
    """A previous run's ingested dataset (path or URI): validate against its schema and flag
    drift of the feature distributions against its statistics."""


@dataclass(kw_only=True)
class SplitConfig:
    """Fractions of the cleaned data held out for validation and test."""

    validation: float = 0.15
    test: float = 0.15
    stratify: bool = True


@dataclass(kw_only=True)
class ModelConfig:
    """Architecture of the model to train."""

    kind: ModelKind = "mlp"
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    """Hidden layer widths of the MLP, or of the CNN's classifier head."""
    channels: list[int] = field(default_factory=lambda: [16, 32])
    """Convolution channels of the CNN, one 3x3 conv block each."""
    image_shape: list[int] = field(default_factory=list)
    """``[channels, height, width]`` that the CNN reshapes each feature row into."""
    dropout: float = 0.1
    d_model: int = 64
    """Width of the transformer's token embeddings (a multiple of ``heads``)."""
    heads: int = 4
    """Attention heads of the transformer; ``d_model / heads`` must be even for RoPE."""
    layers: int = 2
    """Pre-norm encoder blocks of the transformer."""
    sequence_channels: int = 1
    """Signal channels of the transformer: each feature row holds ``sequence_channels x length``
    values, channel-major (``c0_t0, c0_t1, ..., c1_t0, ...``)."""
    patch_size: int = 1
    """Consecutive time steps the transformer embeds as one token (PatchTST); divides the length."""
    causal: bool = False
    """Transformer attention sees only the current and earlier time steps."""


@dataclass(kw_only=True)
class TrainConfig:
    """The training loop and the job that runs it."""

    epochs: int = 20
    batch_size: int = 64
    """Global batch size: split evenly across every process of the job."""
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Optimizer = "adamw"
    warmup_epochs: int = 0
    grad_clip: float = 1.0
    """Maximum gradient norm; 0 disables clipping."""
    nproc_per_node: int = 2
    nnodes: int = 1
    backend: Literal["local", "inprocess", "pytorchjob", "trainjob"] = "local"
    """``local``: torchrun processes with the PyTorchJob environment; ``inprocess``: one process;
    ``pytorchjob``/``trainjob``: a Kubeflow job on the cluster (settings in ``job``)."""
    num_threads: int = 0
    """Torch threads per process; 0 shares the machine's cores among the local processes."""
    deterministic: bool = True
    keep_checkpoints: int = 2
    checkpoint_every_steps: int = 0
    """Also checkpoint every N optimizer steps (0: only at the end of each epoch)."""
    max_rollbacks: int = 3
    """Non-finite loss: roll back to the last checkpoint with the learning rate halved, N times."""
    augment: list[str] = field(default_factory=list)
    """On-the-fly, seeded augmentations of training batches only: hflip, vflip, rotate, shift
    (images, needs model.image_shape), noise, time_shift, time_stretch (1-D signals)."""
    imbalance: Literal["none", "class_weights", "oversample", "undersample", "smote"] = "none"
    """Class imbalance: a cost-sensitive loss, a resampled epoch order (works under DDP: every
    rank draws the same global order), or SMOTE rows added to the training split only."""
    warm_start: str = ""
    """Start from a registered model's weights (``NAME@ALIAS`` or ``NAME:VERSION`` in
    ``registry.uri``; incremental learning); recorded as the new version's parent."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """``bf16`` runs forward and loss under bfloat16 autocast (mixed precision)."""
    timeout_seconds: int = 3600
    sanity_checks: bool = True
    """Before training, rank 0 overfits one batch, scores trivial and linear baselines on the
    validation split and reports the splits (``metrics["sanity"]``; well under a second on
    small data)."""
    metrics_port: int = 9400
    """Prometheus metrics of a training job's every rank on this port + LOCAL_RANK (0: off).
    Only job processes (local torchrun, PyTorchJob/TrainJob pods) open it; in-process training
    (``backend: inprocess``, tuning trials) keeps its metrics in memory."""
    pushgateway: str = ""
    """A Prometheus Pushgateway URL (``http://host:9091``): every rank pushes its metrics at each
    epoch end and at exit (short jobs that a scrape could miss). Empty: off."""
    tensorboard: bool = False
    """Rank 0 writes TensorBoard scalars to ``tensorboard/`` next to the model output (needs the
    ``tensorboard`` extra)."""


@dataclass(kw_only=True)
class MonitorConfig:
    """Thresholds of the anomaly detectors that watch every training rank (0 disables one)."""

    divergence_factor: float = 4.0
    """Divergence: the median loss of the last ``window_steps`` steps exceeds this multiple of
    the best such median."""
    divergence_rising_epochs: int = 3
    """Divergence too: the training loss rose this many epochs in a row (by more than 25%)."""
    warmup_steps: int = 20
    """Steps before the divergence detector starts comparing."""
    window_steps: int = 20
    """Steps each step-level detector looks back over."""
    plateau_patience: int = 5
    """Plateau: epochs without a validation-loss improvement of more than ``plateau_min_delta``."""
    plateau_min_delta: float = 1e-4
    stall_seconds: float = 300.0
    """Stall: no training step finished for this many seconds."""
    stall_fraction: float = 0.2
    """Stall too: recent samples/s below this fraction of the run's usual samples/s."""
    starvation_fraction: float = 0.5
    """Loader starvation: waiting for batches takes more than this share of the step time."""
    resource_interval_seconds: float = 1.0
    """How often CPU, memory and GPU use are sampled (a background thread)."""


@dataclass(kw_only=True)
class JobConfig:
    """How the training job runs on a cluster (PyTorchJob or TrainJob); ignored on a laptop."""

    image: str = "ghcr.io/trainpipe/trainpipe:0.1.0-cpu"
    namespace: str = "trainpipe"
    service_account: str = "trainpipe-training"
    cpu: str = "2"
    memory: str = "4Gi"
    gpus: int = 0
    shm_size: str = "1Gi"
    """Size of the in-memory ``/dev/shm`` volume (data-loader workers and NCCL need it)."""
    restart_policy: Literal["OnFailure", "Never", "ExitCode", "Always"] = "OnFailure"
    backoff_limit: int = 3
    max_restarts: int = 3
    """torchrun ``--max-restarts``: in-place restarts before the pod itself fails."""
    active_deadline_seconds: int = 0
    """Hard wall-clock limit of the job on the cluster; 0 means none."""
    ttl_seconds_after_finished: int = 3600
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    priority_class: str = ""
    queue_name: str = ""
    """Kueue LocalQueue; sets the ``kueue.x-k8s.io/queue-name`` label."""
    storage_secret: str = "trainpipe-s3-credentials"
    """Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, referenced by name only."""
    storage_config_map: str = "trainpipe-storage"
    elastic_min_nodes: int = 0
    elastic_max_nodes: int = 0
    """Both > 0 enable an elastic policy (torchrun c10d rendezvous between min and max nodes)."""
    cleanup: Literal["always", "on_success", "never"] = "on_success"
    runtime: str = "trainpipe-torch"
    """The TrainJob's ClusterTrainingRuntime (Kubeflow Trainer v2): ``manifests/trainer`` holds
    trainpipe-torch, which labels the pods and exposes the metrics ports as PyTorchJob pods get."""


@dataclass(kw_only=True)
class ParamSpec:
    """One dimension of the search space."""

    type: ParamType
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)
    when: dict[str, list[Any]] = field(default_factory=dict)
    """Conditional parameter: searched only when each named categorical parameter takes one of
    the listed values (``when: {model.kind: [cnn]}``)."""


@dataclass(kw_only=True)
class Objective:
    """A metric the search optimizes (Katib's objectiveMetricName and goal)."""

    metric: str
    goal: Direction = "minimize"


@dataclass(kw_only=True)
class CrossValidation:
    """Score each trial by cross-validation on the training split, not the validation split."""

    kind: Literal["none", "kfold", "stratified", "loo"] = "none"
    folds: int = 5


@dataclass(kw_only=True)
class TuneConfig:
    """Hyperparameter search: an Optuna study shared by parallel workers."""

    max_trials: int = 8
    """Total trials across every worker; 0 skips tuning."""
    parallel_trials: int = 2
    max_failed_trials: int = 3
    """The study stops once this many trials failed (crashed or went non-finite)."""
    sampler: Sampler = "tpe"
    pruner: Pruner = "median"
    metric: str = "val_loss"
    direction: Direction = "minimize"
    objectives: list[Objective] = field(default_factory=list)
    """Several objectives make a multi-objective search (Pareto front); empty: metric/direction."""
    epochs: int = 5
    """Training budget of each trial, in epochs."""
    storage: str = ""
    """Optuna storage: ``journal:///path``, a database URL, or ``grpc://host:port``."""
    study_name: str = ""
    search_space: dict[str, ParamSpec] = field(default_factory=dict)
    """Dotted config keys (``train.learning_rate``) to the range they are searched over."""
    cv: CrossValidation = field(default_factory=CrossValidation)
    trial_backend: Literal["inprocess", "job"] = "inprocess"
    """``inprocess``: trials train in the worker; ``job``: each trial is a training job."""
    stale_trial_seconds: int = 600
    """A running trial without a heartbeat for this long belongs to a dead worker."""

    @property
    def objective_list(self) -> list[Objective]:
        """The objectives, with the single ``metric``/``direction`` as the default."""
        return self.objectives or [Objective(metric=self.metric, goal=self.direction)]


@dataclass(kw_only=True)
class ChampionConfig:
    """How a blessed model is compared with the current champion on the same test set."""

    enabled: bool = True
    alias: str = "champion"
    method: Literal["mcnemar", "bootstrap"] = "mcnemar"
    """``mcnemar`` (accuracy) or a paired ``bootstrap``; regression always uses the bootstrap."""
    metric: str = "accuracy"
    """accuracy, f1_macro, recall_macro or precision_macro; rmse or mae for regression."""
    alpha: float = 0.05
    min_improvement: float = 0.0


@dataclass(kw_only=True)
class EvaluateConfig:
    """Test-set evaluation, the gate that blesses a model, and the champion comparison."""

    thresholds: dict[str, float] = field(default_factory=dict)
    """``<metric>_min`` / ``<metric>_max`` bounds; the model is blessed only if all hold."""
    recall_floors: dict[str, float] = field(default_factory=dict)
    """Per-class recall floors (``"*"`` for every class); part of the blessing."""
    champion: ChampionConfig = field(default_factory=ChampionConfig)
    sensitive_column: str = ""
    """A column to report metrics per group of (bias report); it must be in the data."""
    latency_samples: int = 100
    baseline: Literal["trivial", "linear"] = "trivial"
    """The baseline the model must beat on validation: ``trivial`` (majority class, or the mean
    for regression) or ``linear`` (logistic/ridge regression); needs ``train.sanity_checks``."""
    require_beat_baseline: bool = False
    """Make "beats the baseline" part of the blessing (otherwise it is only flagged)."""


@dataclass(kw_only=True)
class RegistryConfig:
    """Where blessed models are registered."""

    uri: str = "runs/registry"
    model_name: str = "model"


@dataclass(kw_only=True)
class RunConfig:
    """A whole run: data, split, model, training, tuning, evaluation and registry."""

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

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-compatible data."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Serialize to the one JSON document that crosses process boundaries."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "config") -> RunConfig:
        """Build and validate a config from plain data; ``origin`` names it in errors."""
        config = _build(cls, data, "", origin)
        validate(config, origin=origin)
        return config

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text), origin="config JSON")

    def with_overrides(
        self, overrides: Mapping[str, Any], *, origin: str = "overrides"
    ) -> RunConfig:
        """Return a copy with dotted-key overrides applied and validated."""
        data = self.to_dict()
        for key, value in overrides.items():
            _set_dotted(data, key, value, origin)
        return RunConfig.from_dict(data, origin=origin)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Load a YAML/JSON config file and apply ``key.path=value`` overrides.

    Raises:
        ConfigError: the file is missing or malformed, a key is unknown, or a value is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: pass --config with a YAML file")
    try:
        data = _yaml_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping at the top level, got {data!r}")
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(data, key, value, str(path))
    return RunConfig.from_dict(data, origin=str(path))


def parse_override(item: str) -> tuple[str, Any]:
    """Parse ``key.path=value``; the value is read as YAML (``0.1``, ``true``, ``[1, 2]``)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form key.path=value")
    try:
        value = _yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {item!r}: cannot parse value {raw!r}: {exc}") from exc
    return key.strip(), value


def _set_dotted(data: dict[str, Any], key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: depth + 1])
            raise ConfigError(f"{origin}: cannot set {key}: {prefix} is not a section")
        node = child
    node[parts[-1]] = value


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


def _yaml_load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


T = TypeVar("T")


def _build(cls: type[T], data: Any, path: str, origin: str) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types."""
    where = path or "top level"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: {where} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        bad = ", ".join(_join(path, str(k)) for k in unknown)
        known = ", ".join(sorted(fields))
        raise ConfigError(f"{origin}: unknown key {bad}; known keys here: {known}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(path, name)
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], key, origin)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{origin}: missing required key {key}")
    return cls(**kwargs)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _coerce(tp: Any, value: Any, key: str, origin: str) -> Any:
    origin_tp = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, key, origin)
    if origin_tp is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"{origin}: {key} must be one of {choices}, got {value!r}")
        return value
    if origin_tp in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key, origin)
    if origin_tp is list:
        if not isinstance(value, list):
            raise ConfigError(f"{origin}: {key} must be a list, got {value!r}")
        (item_tp,) = get_args(tp)
        return [_coerce(item_tp, v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    if origin_tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{origin}: {key} must be a mapping, got {value!r}")
        _, val_tp = get_args(tp)
        return {str(k): _coerce(val_tp, v, f"{key}.{k}", origin) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{origin}: {key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{origin}: {key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{origin}: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{origin}: {key} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: {key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module


def validate(config: RunConfig, *, origin: str = "config") -> None:
    """Check value ranges and cross-field rules; raise ConfigError naming the first problem."""

    def need(ok: bool, key: str, rule: str, value: Any) -> None:
        if not ok:
            raise ConfigError(f"{origin}: {key} must be {rule}, got {value!r}")

    need(bool(config.data.source.strip()), "data.source", "a path, URI or builtin:NAME", "")
    need(bool(config.data.label.strip()), "data.label", "a column name", config.data.label)
    need(config.seed >= 0, "seed", ">= 0", config.seed)
    need(
        0 <= config.data.clip_quantile < 0.5,
        "data.clip_quantile",
        "in [0, 0.5)",
        config.data.clip_quantile,
    )
    if config.data.text:
        need(
            3 <= config.data.vocab_size <= 2**24,
            "data.vocab_size",
            "in [3, 2**24]",
            config.data.vocab_size,
        )
        need(config.data.max_tokens >= 1, "data.max_tokens", ">= 1", config.data.max_tokens)
        need(
            config.model.kind == "transformer",
            "model.kind",
            "transformer for a text column (data.text)",
            config.model.kind,
        )
        need(
            config.data.text not in config.data.categorical,
            "data.categorical",
            f"without the text column {config.data.text!r}",
            config.data.categorical,
        )
    split = config.split
    need(0 < split.validation < 1, "split.validation", "in (0, 1)", split.validation)
    need(0 < split.test < 1, "split.test", "in (0, 1)", split.test)
    total = split.validation + split.test
    need(total < 0.9, "split.validation + split.test", "< 0.9 to leave training data", total)
    model = config.model
    need(all(h > 0 for h in model.hidden), "model.hidden", "positive widths", model.hidden)
    need(all(c > 0 for c in model.channels), "model.channels", "positive", model.channels)
    need(0 <= model.dropout < 1, "model.dropout", "in [0, 1)", model.dropout)
    if model.kind == "cnn":
        need(
            len(model.image_shape) == 3 and all(d > 0 for d in model.image_shape),
            "model.image_shape",
            "[channels, height, width] for model.kind=cnn",
            model.image_shape,
        )
        need(bool(model.channels), "model.channels", "non-empty for model.kind=cnn", [])
    need(model.d_model >= 1, "model.d_model", ">= 1", model.d_model)
    need(model.heads >= 1, "model.heads", ">= 1", model.heads)
    need(model.layers >= 1, "model.layers", ">= 1", model.layers)
    need(model.sequence_channels >= 1, "model.sequence_channels", ">= 1", model.sequence_channels)
    need(model.patch_size >= 1, "model.patch_size", ">= 1", model.patch_size)
    if model.kind == "transformer":
        need(
            model.d_model % model.heads == 0 and (model.d_model // model.heads) % 2 == 0,
            "model.d_model",
            f"a multiple of 2 x model.heads ({2 * model.heads}) so each head has an even width "
            "for RoPE",
            model.d_model,
        )
    train = config.train
    need(train.epochs >= 1, "train.epochs", ">= 1", train.epochs)
    need(train.batch_size >= 1, "train.batch_size", ">= 1", train.batch_size)
    need(train.learning_rate > 0, "train.learning_rate", "> 0", train.learning_rate)
    need(train.weight_decay >= 0, "train.weight_decay", ">= 0", train.weight_decay)
    need(train.warmup_epochs >= 0, "train.warmup_epochs", ">= 0", train.warmup_epochs)
    need(train.grad_clip >= 0, "train.grad_clip", ">= 0 (0 disables)", train.grad_clip)
    need(train.nproc_per_node >= 1, "train.nproc_per_node", ">= 1", train.nproc_per_node)
    need(train.nnodes >= 1, "train.nnodes", ">= 1", train.nnodes)
    need(train.num_threads >= 0, "train.num_threads", ">= 0", train.num_threads)
    need(train.keep_checkpoints >= 1, "train.keep_checkpoints", ">= 1", train.keep_checkpoints)
    need(
        train.checkpoint_every_steps >= 0,
        "train.checkpoint_every_steps",
        ">= 0",
        train.checkpoint_every_steps,
    )
    need(train.max_rollbacks >= 0, "train.max_rollbacks", ">= 0", train.max_rollbacks)
    need(train.timeout_seconds > 0, "train.timeout_seconds", "> 0", train.timeout_seconds)
    need(
        0 <= train.metrics_port <= 65000,
        "train.metrics_port",
        "a port in [1, 65000] (0: off)",
        train.metrics_port,
    )
    need(
        not train.pushgateway or train.pushgateway.startswith(("http://", "https://")),
        "train.pushgateway",
        "an http:// or https:// URL (empty: off)",
        train.pushgateway,
    )
    _validate_monitor(config.monitor, need)
    world = train.nproc_per_node * train.nnodes
    need(
        train.batch_size % world == 0,
        "train.batch_size",
        f"a multiple of the world size {world} (nnodes x nproc_per_node)",
        train.batch_size,
    )
    if train.augment:
        from trainpipe.data.augment import build_augmenter

        try:
            build_augmenter(
                train.augment,
                image_shape=model.image_shape or None,
                vocabulary=() if config.data.text else None,
            )
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
    need(
        train.imbalance == "none" or config.task == "classification",
        "train.imbalance",
        "none for regression",
        train.imbalance,
    )
    job = config.job
    need(job.gpus >= 0, "job.gpus", ">= 0", job.gpus)
    need(job.backoff_limit >= 0, "job.backoff_limit", ">= 0", job.backoff_limit)
    need(job.max_restarts >= 0, "job.max_restarts", ">= 0", job.max_restarts)
    need(
        job.active_deadline_seconds >= 0,
        "job.active_deadline_seconds",
        ">= 0 (0: none)",
        job.active_deadline_seconds,
    )
    need(
        job.ttl_seconds_after_finished >= 0,
        "job.ttl_seconds_after_finished",
        ">= 0",
        job.ttl_seconds_after_finished,
    )
    for key, quantity in (
        ("job.cpu", job.cpu),
        ("job.memory", job.memory),
        ("job.shm_size", job.shm_size),
    ):
        need(
            bool(_QUANTITY.match(quantity)),
            key,
            "a Kubernetes quantity such as 2, 500m or 4Gi",
            quantity,
        )
    need(bool(_DNS_LABEL.match(job.namespace)), "job.namespace", "a DNS-1123 label", job.namespace)
    elastic = (job.elastic_min_nodes, job.elastic_max_nodes)
    need(
        elastic == (0, 0) or 1 <= elastic[0] <= train.nnodes <= elastic[1],
        "job.elastic_min_nodes/elastic_max_nodes",
        f"both 0, or min <= train.nnodes ({train.nnodes}) <= max",
        list(elastic),
    )
    tune = config.tune
    need(tune.max_trials >= 0, "tune.max_trials", ">= 0 (0 skips tuning)", tune.max_trials)
    need(tune.parallel_trials >= 1, "tune.parallel_trials", ">= 1", tune.parallel_trials)
    need(tune.epochs >= 1, "tune.epochs", ">= 1", tune.epochs)
    need(tune.max_failed_trials >= 0, "tune.max_failed_trials", ">= 0", tune.max_failed_trials)
    need(tune.stale_trial_seconds > 0, "tune.stale_trial_seconds", "> 0", tune.stale_trial_seconds)
    metrics = TUNABLE_METRICS[config.task]
    for i, objective in enumerate(tune.objective_list):
        key = f"tune.objectives[{i}].metric" if tune.objectives else "tune.metric"
        need(objective.metric in metrics, key, f"one of {', '.join(metrics)}", objective.metric)
    multi = len(tune.objective_list) > 1
    if multi:
        need(
            tune.sampler in MULTI_OBJECTIVE_SAMPLERS,
            "tune.sampler",
            f"one of {', '.join(MULTI_OBJECTIVE_SAMPLERS)} for several objectives",
            tune.sampler,
        )
        need(
            tune.pruner == "none",
            "tune.pruner",
            "none: pruning needs a single objective",
            tune.pruner,
        )
        need(tune.cv.kind == "none", "tune.cv.kind", "none for several objectives", tune.cv.kind)
    need(
        tune.cv.kind in ("none", "loo") or tune.cv.folds >= 2,
        "tune.cv.folds",
        ">= 2",
        tune.cv.folds,
    )
    for name, spec in tune.search_space.items():
        _validate_param(config, name, spec, origin)
    if tune.sampler == "grid":
        for name, spec in tune.search_space.items():
            need(
                not spec.when,
                f"tune.search_space.{name}.when",
                "empty for the grid sampler (a grid has no conditional parameters)",
                spec.when,
            )
            need(
                spec.type == "categorical" or spec.step is not None,
                f"tune.search_space.{name}.step",
                "set for the grid sampler (or use choices)",
                spec.step,
            )
    need(
        config.evaluate.latency_samples >= 1,
        "evaluate.latency_samples",
        ">= 1",
        config.evaluate.latency_samples,
    )
    from trainpipe.evaluate.gate import validate_thresholds

    try:
        validate_thresholds(config.evaluate.thresholds)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: evaluate.thresholds: {exc}") from exc
    champion = config.evaluate.champion
    need(0 < champion.alpha < 1, "evaluate.champion.alpha", "in (0, 1)", champion.alpha)
    need(
        champion.min_improvement >= 0,
        "evaluate.champion.min_improvement",
        ">= 0",
        champion.min_improvement,
    )
    metrics = (
        ("rmse", "mae")
        if config.task == "regression"
        else ("accuracy", "f1_macro", "recall_macro", "precision_macro")
    )
    need(
        champion.metric in metrics
        or (config.task == "regression" and champion.metric == "accuracy"),
        "evaluate.champion.metric",
        f"one of {', '.join(metrics)}",
        champion.metric,
    )
    need(
        champion.method == "bootstrap" or champion.metric == "accuracy",
        "evaluate.champion.method",
        "bootstrap for metrics other than accuracy",
        champion.method,
    )
    for cls, floor in config.evaluate.recall_floors.items():
        need(0 <= floor <= 1, f"evaluate.recall_floors.{cls}", "in [0, 1]", floor)
    need(bool(config.registry.uri.strip()), "registry.uri", "a path or URI", config.registry.uri)
    from trainpipe.errors import RegistryError
    from trainpipe.registry.names import validate_model_name

    try:
        validate_model_name(config.registry.model_name, origin=f"{origin}: registry.model_name")
    except RegistryError as exc:
        raise ConfigError(str(exc)) from exc


def _validate_monitor(monitor: MonitorConfig, need: Callable[[bool, str, str, Any], None]) -> None:
    for key in ("divergence_factor", "plateau_min_delta", "stall_seconds"):
        value = getattr(monitor, key)
        need(value >= 0, f"monitor.{key}", ">= 0 (0: off)", value)
    for key in ("divergence_rising_epochs", "warmup_steps", "plateau_patience"):
        value = getattr(monitor, key)
        need(value >= 0, f"monitor.{key}", ">= 0", value)
    need(monitor.window_steps >= 1, "monitor.window_steps", ">= 1", monitor.window_steps)
    for key in ("stall_fraction", "starvation_fraction"):
        value = getattr(monitor, key)
        need(0 <= value < 1, f"monitor.{key}", "in [0, 1) (0: off)", value)
    need(
        monitor.resource_interval_seconds > 0,
        "monitor.resource_interval_seconds",
        "> 0",
        monitor.resource_interval_seconds,
    )


def _validate_param(config: RunConfig, name: str, spec: ParamSpec, origin: str) -> None:
    key = f"tune.search_space.{name}"
    section, _, attr = name.partition(".")
    target = getattr(config, section, None)
    if section not in ("train", "model") or target is None or not hasattr(target, attr):
        raise ConfigError(
            f"{origin}: {key}: {name!r} is not a tunable setting; name one as train.KEY or "
            "model.KEY (for example train.learning_rate)"
        )
    space = config.tune.search_space
    for parent, values in spec.when.items():
        parent_spec = space.get(parent)
        if parent_spec is None or parent_spec.type != "categorical" or parent == name:
            raise ConfigError(
                f"{origin}: {key}.when: {parent!r} must be another categorical parameter of "
                "tune.search_space"
            )
        unknown = [v for v in values if v not in parent_spec.choices]
        if not values or unknown:
            raise ConfigError(
                f"{origin}: {key}.when.{parent}: values {unknown or values!r} are not among its "
                f"choices {parent_spec.choices!r}"
            )
    if spec.type == "categorical":
        if not spec.choices:
            raise ConfigError(f"{origin}: {key}: a categorical parameter needs non-empty choices")
        return
    if spec.low is None or spec.high is None or not spec.low < spec.high:
        raise ConfigError(
            f"{origin}: {key}: needs low < high, got low={spec.low!r}, high={spec.high!r}"
        )
    if spec.log and spec.low <= 0:
        raise ConfigError(f"{origin}: {key}: log scale needs low > 0, got low={spec.low!r}")
    if spec.type == "int" and not (float(spec.low).is_integer() and float(spec.high).is_integer()):
        raise ConfigError(f"{origin}: {key}: int bounds must be whole numbers")
