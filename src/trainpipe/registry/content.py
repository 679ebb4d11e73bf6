"""What a registered model version holds besides its weights: a model card and a file manifest.

:func:`model_card` renders a Markdown model card from the model description (``model.json``) and
the lineage (``lineage.json``). :func:`manifest_for` computes the sha256 of every file of a
version and :func:`verify_files` checks a stored version directory against such a manifest.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from trainpipe.errors import StorageError
from trainpipe.storage.base import ObjectStore
from trainpipe.train.missing import fills

__all__ = ["MANIFEST_KEY", "manifest_for", "model_card", "verify_files"]

#: The manifest's own key in a version directory (never listed in the manifest itself).
MANIFEST_KEY = "MANIFEST.json"

_CLASSIFICATION_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")
_REGRESSION_METRICS = ("rmse", "mae", "r2")
_LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms", "latency_mean_ms", "latency_n")
_STRUCTURED_METRICS = ("per_class", "confusion_matrix", "labels")
_PER_CLASS_COLUMNS = ("precision", "recall", "f1", "support")
_MAX_LISTED_FEATURES = 50
_HASH_SHOWN = 12


# ----------------------------------------------------------------------------- formatting helpers


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (lineage written by older code)."""
    return value if isinstance(value, Mapping) else {}


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _code(value: Any, *, table: bool = False) -> str:
    """``value`` as a Markdown code span: literal text, nothing in it is interpreted."""
    text = _one_line(value)
    if table:
        text = text.replace("|", "\\|")
    if not text:
        return "(empty)"
    run = longest = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MARKUP = re.compile(r"([\\`*_\[\]]|<(?=[A-Za-z/!?]))")


def _text(value: Any, *, table: bool = False) -> str:
    """Free text on one line, with what Markdown or HTML would interpret escaped.

    Emphasis, code, link and HTML-tag openers are backslash-escaped (``a < b`` stays as it is).
    """
    text = _MARKUP.sub(r"\\\1", _one_line(value))
    if table:
        text = text.replace("|", "\\|")
    return text


def _num(value: Any) -> str:
    """A metric value: integers as they are, other numbers with 4 decimals (or 4 digits)."""
    if not _is_number(value):
        return _text(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number == 0 or 1e-3 <= abs(number) < 1e6:
        return f"{number:.4f}"
    return f"{number:.4g}"


def _short_hash(value: str) -> str:
    return value if len(value) <= _HASH_SHOWN else value[:_HASH_SHOWN] + "…"


def _list(values: Iterable[Any], *, limit: int | None = None) -> str:
    items = [_code(v) for v in values]
    if limit is not None and len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more (all in model.json)"
    return ", ".join(items) if items else "none"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _bullets(items: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"- **{label}:** {value}" for label, value in items)


# ----------------------------------------------------------------------------------- card sections


def _sizes(value: Any) -> str:
    """A list of layer sizes as a code span (whatever was recorded, if not a list)."""
    return _code(list(value) if isinstance(value, list | tuple) else value)


def _architecture(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("kind", "mlp"))
    hidden = _sizes(spec.get("hidden", []))
    dropout = spec.get("dropout")
    drop = f", dropout {_num(dropout)}" if _is_number(dropout) else ""
    if kind == "cnn":
        channels = _sizes(spec.get("channels", []))
        shape = _sizes(spec.get("image_shape", []))
        return (
            f"CNN: 3x3 convolution blocks with channels {channels} on images of shape "
            f"{shape} (channels, height, width), then an MLP head with hidden layers "
            f"{hidden}{drop}"
        )
    if kind == "resnet":
        return (
            f"ResNet: residual stages with channels {_sizes(spec.get('channels', []))} on images "
            f"of shape {_sizes(spec.get('image_shape', []))}, global average pooling{drop}"
        )
    if kind == "cnn1d":
        return (
            f"1-D CNN: temporal convolution blocks with channels "
            f"{_sizes(spec.get('channels', []))}, average and max pooling over time{drop}"
        )
    if kind == "mlp":
        return f"MLP with hidden layers {hidden}{drop}"
    if kind == "custom":
        params = _mapping(spec.get("params"))
        given = ", ".join(f"{_code(k)}={_code(v)}" for k, v in sorted(params.items()))
        return (
            f"the user's model, built by {_code(spec.get('factory', '?'))}"
            f"{f' with {given}' if given else ''}"
        )
    if kind == "transformer":
        patch = spec.get("patch_size", 1)
        causal = ", causal attention" if spec.get("causal") else ""
        return (
            f"Transformer encoder: {spec.get('layers')} pre-norm blocks, width "
            f"{spec.get('d_model')}, {spec.get('heads')} heads, rotary position embeddings "
            f"(RoPE){causal}, {_num(patch)} time step(s) per token, mean pooling{drop}"
        )
    return f"{_code(kind)} (hidden layers {hidden}{drop})"


def _inputs(description: Mapping[str, Any]) -> str:
    numeric, categorical, text = _feature_columns(description)
    width = _input_width(description)
    preprocess = _mapping(description.get("preprocess"))
    vocabulary = preprocess.get("vocabulary")
    if text:
        entries = len(vocabulary) if isinstance(vocabulary, list) else 0
        return (
            f"1 feature column: text column {_code(text[0])} as {width} token ids per row "
            f"(lowercased words, a {entries}-entry vocabulary of the training split)"
        )
    parts = []
    if numeric:
        parts.append(f"{len(numeric)} numeric, standardized with the training split's mean and std")
    if categorical:
        parts.append(
            f"{len(categorical)} categorical, one-hot encoded over the training split's categories"
        )
    shown = _columns([*numeric, *categorical], "feature column")
    shown += f" ({'; '.join(parts)})" if parts else ""
    if width != len(numeric) + len(categorical):
        shown += f"; the network's input is {width} values wide"
    return shown


def _columns(names: list[str], noun: str) -> str:
    """``1 feature column``, ``3 feature columns``."""
    return f"{len(names)} {noun}" + ("" if len(names) == 1 else "s")


def _column_rules(description: Mapping[str, Any]) -> str:
    """What the values of each kind of raw input column must be."""
    numeric, categorical, text = _feature_columns(description)
    dates = _date_parts(description)
    numeric = [name for name in numeric if name not in dates]
    rules = []
    if numeric:
        which = (
            "numeric"
            if not (categorical or text or dates)
            else f"the {_columns(numeric, 'numeric column')}"
        )
        rules.append(f"{which} in the same units as the training data")
    if dates:
        columns = list(dict.fromkeys(dates.values()))
        rules.append(
            f"the {_columns(columns, 'date column')} {_list(columns)} as dates (the model reads "
            "the year, month, day and day of the week of each)"
        )
    if categorical:
        rules.append(
            f"the {_columns(categorical, 'categorical column')} holding categories of the "
            "training split (an unseen one encodes as all zeros)"
        )
    if text:
        rules.append(f"{_code(text[0])} as free text")
    return ", ".join(rules) if rules else "none recorded"


def _features(description: Mapping[str, Any]) -> list[str]:
    """Every feature column of the table the model reads: numeric, categorical, then text."""
    numeric, categorical, text = _feature_columns(description)
    return [*numeric, *categorical, *text]


def _date_parts(description: Mapping[str, Any]) -> dict[str, str]:
    """Each feature ingest derived from a date column (``visit date_year``), with that column,
    from the column plan saved with the model (``preprocess.column_roles``)."""
    plan = _mapping(_mapping(description.get("preprocess")).get("column_roles"))
    decisions = plan.get("columns")
    parts: dict[str, str] = {}
    for decision in decisions if isinstance(decisions, list) else []:
        decision = _mapping(decision)
        derived = decision.get("derived")
        if decision.get("feature") and decision.get("role") == "date" and derived:
            parts |= {str(name): str(decision.get("column")) for name in derived}
    return parts


def _raw_inputs(description: Mapping[str, Any]) -> list[str]:
    """The columns a caller's raw rows must hold, in the model's feature order: a date column
    once, where the model reads the features ingest derived from it."""
    dates = _date_parts(description)
    return list(dict.fromkeys(dates.get(name, name) for name in _features(description)))


def _feature_columns(description: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The table's feature columns by kind: numeric, categorical and text (at most one)."""
    preprocess = _mapping(description.get("preprocess"))
    features = preprocess.get("features")
    numeric = [str(f) for f in features] if isinstance(features, list) else []
    categorical = [str(c) for c in _mapping(preprocess.get("categories"))]
    text = [str(preprocess["text"])] if preprocess.get("text") else []
    return numeric, categorical, text


def _classes(description: Mapping[str, Any]) -> list[str]:
    preprocess = _mapping(description.get("preprocess"))
    classes = preprocess.get("classes")
    return [str(c) for c in classes] if isinstance(classes, list) else []


def _input_width(description: Mapping[str, Any]) -> int:
    """The network's input width (``n_features`` in ``model.json``): one value per numeric
    column, one per category of each categorical column, or the token ids of a text column."""
    n = description.get("n_features")
    return n if isinstance(n, int) else len(_features(description))


def _onnx_line(lineage: Mapping[str, Any]) -> str:
    onnx = _mapping(lineage.get("onnx"))
    if onnx.get("exported") is False:
        return f"not exported: {_text(onnx.get('reason', 'no reason recorded'))}"
    if onnx.get("exported"):
        return "`model.onnx`, checked against PyTorch on sample inputs"
    return "not recorded"


def _model_section(description: Mapping[str, Any], lineage: Mapping[str, Any]) -> str:
    task = str(description.get("task", "unknown"))
    label = description.get("label", "")
    classes = _classes(description)
    n_outputs = description.get("n_outputs")
    if task == "classification":
        outputs = f"{_num(n_outputs)} logits, one per class (softmax gives probabilities)"
    elif task == "regression":
        outputs = "1 value: the target standardized with the training mean and std"
    else:
        outputs = f"{_num(n_outputs)} values"
    items = [
        ("Architecture", _architecture(_mapping(description.get("model")))),
        ("Task", f"{_text(task)} of {_code(label)}"),
        ("Inputs", _inputs(description)),
        ("Outputs", outputs),
    ]
    if task == "classification":
        items.append((f"Classes ({len(classes)})", _list(classes)))
    items.append(
        (
            "Format",
            f"{_code(description.get('format', 'unknown'))}, weights in "
            "`model.safetensors` (no pickle)",
        )
    )
    items.append(("ONNX", _onnx_line(lineage)))
    return "## Model\n\n" + _bullets(items)


def _data_section(lineage: Mapping[str, Any], task: str) -> str:
    config = _mapping(lineage.get("config"))
    data = _mapping(config.get("data"))
    split = _mapping(config.get("split"))
    seed = lineage.get("split_seed", config.get("seed"))
    items = [
        ("Source", _code(data["source"]) if data.get("source") else "not recorded"),
        ("Data hash", _code(lineage["data_hash"]) if lineage.get("data_hash") else "not recorded"),
        ("Split seed", _num(seed) if seed is not None else "not recorded"),
    ]
    if _is_number(split.get("validation")) and _is_number(split.get("test")):
        if task == "regression":  # the split stratifies classes only
            stratified = ", not stratified (a regression target has no classes)"
        else:
            stratified = ", stratified by class" if split.get("stratify") else ""
        items.append(
            (
                "Split",
                f"{float(split['validation']):.0%} validation, {float(split['test']):.0%} test"
                f"{stratified}",
            )
        )
    if data.get("missing"):
        items.append(("Missing-value policy at ingest", _code(data["missing"])))
    return "## Training data\n\n" + _bullets(items)


def _metrics_section(metrics: Mapping[str, Any], task: str) -> str:
    if not metrics:
        return "## Metrics\n\nNo metrics were recorded for this version; its quality is unknown."
    headline = _CLASSIFICATION_METRICS if task == "classification" else _REGRESSION_METRICS
    known = (*_CLASSIFICATION_METRICS, *_REGRESSION_METRICS)
    names = [m for m in known if m in metrics and m in headline]
    names += [m for m in known if m in metrics and m not in headline]
    names += sorted(
        str(m)
        for m, v in metrics.items()
        if m not in known
        and m not in _LATENCY_METRICS
        and m not in _STRUCTURED_METRICS
        and (_is_number(v) or isinstance(v, str))
    )
    parts = ["## Metrics", "Metrics recorded with this version (from `lineage.json`)."]
    if names:
        parts.append(
            _table(
                ["metric", "value"],
                ([_code(m, table=True), _num(metrics[m])] for m in names),
            )
        )
    per_class = _mapping(metrics.get("per_class"))
    if per_class:
        rows = []
        for label, scores in per_class.items():
            values = _mapping(scores)
            rows.append(
                [_code(label, table=True)]
                + [_num(values[c]) if c in values else "-" for c in _PER_CLASS_COLUMNS]
            )
        parts.append("### Per-class metrics\n\n" + _table(["class", *_PER_CLASS_COLUMNS], rows))
    latency = {m: metrics[m] for m in _LATENCY_METRICS if _is_number(metrics.get(m))}
    if latency:
        pieces = [
            f"{label} {_num(latency[key])} ms"
            for key, label in (
                ("latency_p50_ms", "p50"),
                ("latency_p95_ms", "p95"),
                ("latency_mean_ms", "mean"),
            )
            if key in latency
        ]
        count = latency.get("latency_n")
        over = f" over {int(count)} single-sample calls" if count is not None else ""
        parts.append(
            "### Latency\n\nPyTorch inference on the evaluating machine, one sample at a time: "
            + ", ".join(pieces)
            + over
            + "."
        )
    return "\n\n".join(parts)


def _use_section(
    description: Mapping[str, Any], lineage: Mapping[str, Any], metrics: Mapping[str, Any]
) -> str:
    task = str(description.get("task", "unknown"))
    label = _code(description.get("label", ""))
    config = _mapping(lineage.get("config"))
    data = _mapping(config.get("data"))
    source = _code(data["source"]) if data.get("source") else "an unrecorded data source"
    data_hash = lineage.get("data_hash")
    hashed = f" (data hash {_code(_short_hash(str(data_hash)))})" if data_hash else ""
    inputs = _raw_inputs(description)
    classes = _classes(description)

    if task == "classification":
        purpose = f"predict {label}, one of {len(classes)} classes,"
    elif task == "regression":
        purpose = f"predict the numeric target {label}"
    else:
        purpose = f"predict {label}"
    lines = [
        f"- **Intended use:** {purpose} for new rows from the same source and population as "
        "the training data.",
        f"- Trained on {source}{hashed}; it is not validated outside that distribution, and its "
        "metrics say nothing about data from other sources, periods or populations.",
        f"- Inputs must have the {_columns(inputs, 'feature column')} "
        f"{_list(inputs, limit=_MAX_LISTED_FEATURES)}: {_column_rules(description)}; rows "
        "lacking a feature are rejected. The model applies the preprocessing "
        "fitted on the training split (step by step in `model.onnx`'s `trainpipe.preprocess` "
        "metadata); the raw ONNX/PyTorch network expects its output, not raw rows.",
        _missing_line(_mapping(description.get("preprocess")), data),
    ]
    if _mapping(_mapping(description.get("preprocess")).get("categories")):
        lines.append(
            "- A category unseen in training encodes as all zeros; `predict`, `predict_proba` and "
            "`trainpipe predict` count such rows per column and warn."
        )
    if task == "classification":
        lines.append(
            f"- It can only predict the {len(classes)} classes seen in training "
            f"({_list(classes, limit=20)}); a row of any other class is still assigned one of them."
        )
        accuracy = metrics.get("accuracy")
        if _is_number(accuracy) and math.isfinite(float(accuracy)):
            lines.append(
                f"- On its evaluation data it was wrong on about {1 - float(accuracy):.1%} of rows "
                f"(accuracy {_num(accuracy)}); expect at least that error rate in use."
            )
        per_class = _mapping(metrics.get("per_class"))
        weak = [
            str(name)
            for name, scores in per_class.items()
            if _is_number(_mapping(scores).get("recall"))
            and float(_mapping(scores)["recall"]) < 0.5
        ]
        if weak:
            lines.append(f"- Recall is below 0.5 for {_list(weak)}: it misses most of those rows.")
    elif task == "regression":
        errors = [
            f"{m.upper()} {_num(metrics[m])}" for m in ("mae", "rmse") if _is_number(metrics.get(m))
        ]
        if errors:
            lines.append(
                f"- Typical error on its evaluation data: {', '.join(errors)} (in target units)."
            )
        lines.append(
            "- Predictions for inputs outside the range of the training data are extrapolations "
            "and were not evaluated."
        )
    if not metrics:
        lines.append("- No evaluation metrics were recorded: its quality is unknown.")
    gate = _mapping(lineage.get("gate"))
    if gate and not gate.get("blessed", False):
        lines.append(
            "- The quality gate did **not** bless this version; do not deploy it without review."
        )
    return "## Intended use and limitations\n\n" + "\n".join(lines)


def _missing_line(preprocess: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """What the model does with a missing input value (``preprocess.missing`` of model.json)."""
    policy = preprocess.get("missing")
    if preprocess.get("text"):
        return f"- A missing text ({_code(preprocess['text'])}) is scored as the empty text."
    if isinstance(policy, str) and fills(policy):
        return (
            f"- A missing input value is filled as the training data's were ({_code(policy)}, "
            "with values fitted on the training split and saved with the model)."
        )
    if isinstance(policy, str) and policy:
        return (
            f"- A row with a missing input value is refused: the training data's policy "
            f"{_code(policy)} does not fill values, so fill or drop such rows before scoring."
        )
    ingest = (
        f" (the training data's ingest policy was {_code(data['missing'])})"
        if data.get("missing")
        else ""
    )
    return (
        "- A row with a missing input value is refused: this model was saved before its "
        f"missing-value policy was recorded{ingest}; fill or drop such rows before scoring."
    )


def _parent(lineage: Mapping[str, Any]) -> str | None:
    for key in ("parent_version", "parent"):
        value = lineage.get(key)
        if value in (None, "", {}):
            continue
        if isinstance(value, Mapping):
            name, version = value.get("name"), value.get("version")
            if name is not None and version is not None:
                return _code(f"{name}:{version}")
            return _code(", ".join(f"{k}={v}" for k, v in sorted(value.items())))
        return _code(value)
    return None


def _user_code(lineage: Mapping[str, Any]) -> str:
    code = _mapping(lineage.get("user_code"))
    if not code.get("digest"):
        return "none (the model's code is in the image)"
    return f"archive {_code(code.get('uri'))}, digest {_code(code['digest'])}"


def _lineage_section(lineage: Mapping[str, Any]) -> str:
    def recorded(key: str) -> str:
        value = lineage.get(key)
        return _code(value) if value not in (None, "") else "not recorded"

    run_id = lineage.get("pipeline_run_id")
    items = [
        ("Code version", recorded("code_version")),
        ("User code", _user_code(lineage)),
        ("trainpipe", recorded("trainpipe_version")),
        ("Python", recorded("python")),
        ("Pipeline run", _code(run_id) if run_id else "none (not registered by a pipeline run)"),
        ("Parent version", _parent(lineage) or "none"),
    ]
    best = _mapping(_mapping(lineage.get("tuning")).get("best_params"))
    if best:
        items.append(
            ("Tuned parameters", ", ".join(_code(f"{k}={v}") for k, v in sorted(best.items())))
        )
    packages = _mapping(lineage.get("packages"))
    parts = ["## Lineage", _bullets(items)]
    if packages:
        parts.append(
            _table(
                ["package", "version"],
                ([_code(k, table=True), _code(v, table=True)] for k, v in sorted(packages.items())),
            )
        )
    return "\n\n".join(parts)


def _gate_section(lineage: Mapping[str, Any]) -> str | None:
    if "gate" not in lineage and "promotion" not in lineage:
        return None
    parts = ["## Quality gate"]
    gate = lineage.get("gate")
    if isinstance(gate, Mapping):
        verdict = "blessed" if gate.get("blessed") else "not blessed"
        reason = _one_line(gate.get("reason") or "")
        reason = reason.removeprefix(f"{verdict}:").strip()
        parts.append(f"**Decision:** {verdict}" + (f" ({_text(reason)})" if reason else ""))
        checks = [_mapping(c) for c in gate.get("checks") or [] if isinstance(c, Mapping)]
        if checks:
            rows = []
            for check in checks:
                value = check.get("value")
                limit = check.get("threshold")
                threshold = _num(limit) if _is_number(limit) else "?"
                rows.append(
                    [
                        _code(check.get("metric", "?"), table=True),
                        f"{_text(check.get('op', '?'), table=True)} {threshold}",
                        "missing" if value is None else _num(value),
                        "pass" if check.get("passed") else "fail",
                    ]
                )
            parts.append(_table(["metric", "required", "value", "result"], rows))
    elif "gate" in lineage:
        parts.append("**Decision:** not evaluated (no gate ran)")
    promotion = lineage.get("promotion")
    if isinstance(promotion, Mapping) and promotion:
        parts.append(
            "### Promotion\n\n"
            + _bullets((_text(k), _code(v)) for k, v in sorted(promotion.items(), key=str))
        )
    elif promotion not in (None, "", {}):
        parts.append(f"### Promotion\n\n{_code(promotion)}")
    return "\n\n".join(parts)


def model_card(
    *, name: str, version: int, description: Mapping[str, Any], lineage: Mapping[str, Any]
) -> str:
    """A Markdown model card for version ``version`` of model ``name``.

    ``description`` is the model's ``model.json`` and ``lineage`` its ``lineage.json`` (see
    :func:`trainpipe.registry.build_lineage`). Sections: model, training data, metrics (with a
    per-class table and latency when recorded), intended use and limitations, lineage, and the
    quality gate when the lineage has a ``gate`` or ``promotion``. Missing entries show as "not
    recorded"; names and values are rendered as literal code spans.
    """
    description = _mapping(description)
    lineage = _mapping(lineage)
    metrics = _mapping(lineage.get("metrics"))
    task = str(description.get("task", "unknown"))
    summary = (
        f"A {_text(task)} model registered by trainpipe. Generated from `model.json` and "
        "`lineage.json`; the numbers are those recorded at registration."
    )
    sections = [
        f"# Model card: {_code(name)} version {int(version)}",
        summary,
        _model_section(description, lineage),
        _data_section(lineage, task),
        _metrics_section(metrics, task),
        _use_section(description, lineage, metrics),
        _lineage_section(lineage),
    ]
    gate = _gate_section(lineage)
    if gate:
        sections.append(gate)
    return "\n\n".join(sections) + "\n"


# -------------------------------------------------------------------------------------- manifest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_for(files: Mapping[str, bytes]) -> dict[str, str]:
    """The sha256 (hex) of every file, keyed like ``files`` and sorted by key."""
    return {key: _sha256(bytes(files[key])) for key in sorted(files)}


def _ignored(key: str) -> bool:
    """The manifest itself and hidden files (``.claim`` markers) are not part of a version."""
    return key == MANIFEST_KEY or any(part.startswith(".") for part in key.split("/"))


def verify_files(store: ObjectStore, expected: Mapping[str, str]) -> list[str]:
    """Check the files in ``store`` (a version directory) against ``expected`` sha256 hashes.

    Every expected file is read and hashed. Returns one human-readable problem per file, sorted
    by key: ``"<key>: sha256 <actual>… != expected <expected>…"``, ``"<key>: missing"``,
    ``"<key>: unreadable (...)"``, or ``"<key>: not in the manifest"`` for a file nobody expects
    (``MANIFEST.json`` and hidden files such as ``.claim`` are ignored). An empty list means the
    directory is intact.
    """
    problems: dict[str, str] = {}
    for key, digest in expected.items():
        try:
            if not store.exists(key):
                problems[key] = f"{key}: missing"
                continue
            actual = _sha256(store.read_bytes(key))
        except StorageError as exc:
            problems[key] = f"{key}: unreadable ({exc})"
            continue
        if actual != str(digest).lower():
            problems[key] = (
                f"{key}: sha256 {_short_hash(actual)} != expected {_short_hash(str(digest))}"
            )
    for key in store.list():
        if key not in expected and not _ignored(key):
            problems[key] = f"{key}: not in the manifest"
    return [problems[key] for key in sorted(problems)]
