"""Debugging helpers that run before training: overfit one batch, trivial baselines, split report.

- :func:`overfit_one_batch`: a model that cannot drive the loss of a single small batch close to
  zero has a bug (wrong labels, a broken layer, a learning rate far off), and more epochs will not
  fix it.
- :func:`baseline_scores`: the majority class (mean for regression) and a linear model, scored on
  the validation split. A network that does worse than the stronger of them is not worth its cost;
  by default evaluate's gate does not bless it (:func:`compare_with_baseline`).
- :func:`split_report`: rows and class balance per split and the validation rows that also occur
  in train.

:func:`run_sanity_checks` runs all three on rank 0 at the start of a training job; the result is
saved as ``metrics["sanity"]`` in the model artifact. Everything is bounded (a few hundred rows
for the linear model's fit at most ``max_rows``, one batch, a few dozen steps), so it costs well
under a second on small tabular data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainpipe.config.evaluate import BASELINE_CHOICES
from trainpipe.console import print_line
from trainpipe.data.dataset import Schema
from trainpipe.errors import TrainingError

__all__ = [
    "baseline_scores",
    "compare_with_baseline",
    "overfit_one_batch",
    "run_sanity_checks",
    "split_report",
]


def _loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if task == "classification":
        return nn.functional.cross_entropy(out.float(), y)
    return nn.functional.mse_loss(out.float().reshape(y.shape), y.float())


def overfit_one_batch(
    make_model: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    task: str,
    steps: int = 100,
    learning_rate: float = 1e-2,
    min_reduction: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a fresh model on one batch ``(x, y)`` only and check that its loss collapses.

    Adam with ``learning_rate`` for at most ``steps`` steps, stopping early once the target is
    reached; the losses before and after are measured in eval mode (no dropout). ``passed`` is
    True when the loss fell by at least ``min_reduction`` (0.9: nine tenths) of the way from where
    it started to the batch's floor: zero, unless identical rows carry different targets (survey
    answers do), which no model can fit apart (:func:`loss_floor`).
    Returns ``initial_loss``, ``final_loss``, ``floor``, ``reduction``, ``steps`` (taken),
    ``batch_size``, ``passed`` and a ``message``. Runs on one thread and leaves the global RNG
    untouched.
    """
    if task not in ("classification", "regression"):
        raise TrainingError(f"task must be classification or regression, got {task!r}")
    if len(x) == 0 or len(x) != len(y):
        raise TrainingError(
            f"overfit_one_batch needs a non-empty batch with one target per row, got {len(x)} "
            f"rows and {len(y)} targets"
        )
    if steps < 1:
        raise TrainingError(f"overfit_one_batch needs steps >= 1, got {steps}")
    threads = torch.get_num_threads()
    # One thread: a batch this small gains nothing from more, and the other ranks of the job are
    # already busy on the same cores.
    torch.set_num_threads(1)
    try:
        return _overfit(make_model, x, y, task, steps, learning_rate, min_reduction, seed)
    finally:
        torch.set_num_threads(threads)


def loss_floor(task: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """The lowest loss any model can reach on the batch: rows with identical inputs get one
    prediction, so the best is the targets' entropy (classification) or variance (regression)
    within each group of identical rows. Zero when every row's inputs are distinct."""
    _, group = torch.unique(x.reshape(len(x), -1), dim=0, return_inverse=True)
    groups = int(group.max()) + 1
    if groups == len(x):
        return 0.0
    if task == "classification":
        classes = int(y.max()) + 1
        counts = torch.zeros(groups, classes, dtype=torch.float64)
        ones = torch.ones(len(y), dtype=torch.float64)
        counts.index_put_((group, y.long()), ones, accumulate=True)
        share = counts / counts.sum(dim=1, keepdim=True)
        terms = torch.where(counts > 0, -counts * torch.log(share.clamp_min(1e-300)), 0.0)
        return float(terms.sum() / len(y))
    target = y.reshape(len(y), -1).double()
    sums = torch.zeros(groups, target.shape[1], dtype=torch.float64).index_add_(0, group, target)
    sizes = torch.bincount(group, minlength=groups).double().unsqueeze(1)
    residual = target - (sums / sizes)[group]
    return float((residual**2).mean())


def _overfit(
    make_model: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    task: str,
    steps: int,
    learning_rate: float,
    min_reduction: float,
    seed: int,
) -> dict[str, Any]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        model.eval()
        with torch.no_grad():
            initial = float(_loss(task, model(x), y))
        floor = loss_floor(task, x, y)
        target = floor + (initial - floor) * (1.0 - min_reduction)
        taken = 0
        final = initial
        # Stop as soon as the target is reached: most healthy models need a fraction of steps.
        while taken < steps and not final <= target:
            model.train()
            for _ in range(min(10, steps - taken)):
                optimizer.zero_grad(set_to_none=True)
                loss = _loss(task, model(x), y)
                loss.backward()
                optimizer.step()
                taken += 1
            model.eval()
            with torch.no_grad():
                final = float(_loss(task, model(x), y))
            if not math.isfinite(final):
                break
    finite = math.isfinite(initial) and math.isfinite(final)
    room = initial - floor
    reduction = (initial - final) / room if finite and room > 0 else 0.0
    passed = finite and (reduction >= min_reduction or final - floor < 1e-3)
    of_the_way = (
        f" of the way to {floor:.4g}, the floor that identical rows with different targets set"
        if floor > 0
        else ""
    )
    if passed:
        message = (
            f"one batch of {len(x)} rows: loss {initial:.4g} -> {final:.4g} in {taken} steps "
            f"({reduction:.0%} lower{of_the_way})"
        )
    else:
        message = (
            f"the model could not overfit one batch of {len(x)} rows: loss {initial:.4g} -> "
            f"{final:.4g} in {taken} steps ({reduction:.0%} lower{of_the_way}, expected >= "
            f"{min_reduction:.0%}); check the labels, the model's output layer and the inputs' "
            "scale before training longer"
        )
    return {
        "initial_loss": initial if math.isfinite(initial) else None,
        "final_loss": final if math.isfinite(final) else None,
        "floor": floor,
        "reduction": reduction,
        "steps": taken,
        "batch_size": len(x),
        "passed": passed,
        "message": message,
    }


def _subsample(x: np.ndarray, y: np.ndarray, max_rows: int, seed: int) -> tuple[np.ndarray, ...]:
    if len(x) <= max_rows:
        return x, y
    keep = np.random.default_rng(seed).choice(len(x), size=max_rows, replace=False)
    return x[keep], y[keep]


def baseline_scores(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    task: str,
    max_rows: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Validation scores of the trivial baselines, on already preprocessed features.

    Classification (``y`` holds class indices): ``majority`` (always the most frequent training
    class) and ``linear`` (logistic regression), each with ``accuracy`` and ``f1_macro``.
    Regression (``y`` is the standardized target): ``mean`` (always the training mean) and
    ``linear`` (ridge regression), each with ``mse`` (in the standardized units the training
    loop's ``val_loss`` uses) and ``r2``. The linear model is fit on at most ``max_rows`` rows.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score

    xt, yt = np.asarray(x_train, dtype=np.float64), np.asarray(y_train)
    xv, yv = np.asarray(x_val, dtype=np.float64), np.asarray(y_val)
    if xt.ndim != 2 or xv.ndim != 2 or len(xt) == 0 or len(xv) == 0:
        raise TrainingError(
            f"baselines need non-empty 2-D feature tables, got train {xt.shape} and validation "
            f"{xv.shape}"
        )
    xt, xv = xt.reshape(len(xt), -1), xv.reshape(len(xv), -1)
    fit_x, fit_y = _subsample(xt, yt, max_rows, seed)
    if task == "classification":
        yt_i, yv_i = yt.astype(np.int64), yv.astype(np.int64)
        majority = int(np.bincount(yt_i).argmax())
        trivial = np.full(len(yv_i), majority)
        scores: dict[str, Any] = {
            "majority": {
                "class_index": majority,
                "accuracy": float(accuracy_score(yv_i, trivial)),
                "f1_macro": float(f1_score(yv_i, trivial, average="macro", zero_division=0)),
            }
        }
        if len(np.unique(fit_y)) >= 2:
            linear = LogisticRegression(max_iter=300)
            linear.fit(fit_x, fit_y.astype(np.int64))
            pred = linear.predict(xv)
            scores["linear"] = {
                "accuracy": float(accuracy_score(yv_i, pred)),
                "f1_macro": float(f1_score(yv_i, pred, average="macro", zero_division=0)),
            }
        return scores
    yt_f, yv_f = yt.astype(np.float64).reshape(-1), yv.astype(np.float64).reshape(-1)
    mean = np.full(len(yv_f), float(yt_f.mean()))
    ridge = Ridge(alpha=1.0).fit(fit_x, np.asarray(fit_y, dtype=np.float64).reshape(-1))
    pred = ridge.predict(xv)
    r2 = len(yv_f) >= 2
    return {
        "mean": {
            "mse": float(mean_squared_error(yv_f, mean)),
            "r2": float(r2_score(yv_f, mean)) if r2 else None,
        },
        "linear": {
            "mse": float(mean_squared_error(yv_f, pred)),
            "r2": float(r2_score(yv_f, pred)) if r2 else None,
        },
    }


def split_report(
    splits: Mapping[str, pd.DataFrame], schema: Schema, *, reference: str = "train"
) -> dict[str, Any]:
    """Rows and class balance per split, rows shared with ``reference``, and warnings.

    Returns ``{name: {"rows", "class_balance"}, ..., "overlap": {name: rows also in
    reference}, "warnings": [...]}``. A warning is raised for an empty split, a class missing
    from a split that the reference has, and rows shared with the reference.
    """
    from trainpipe.data.quality import shared_rows

    report: dict[str, Any] = {}
    warnings: list[str] = []
    for name, frame in splits.items():
        entry: dict[str, Any] = {"rows": len(frame)}
        if schema.task == "classification" and schema.label in frame:
            counts = frame[schema.label].astype(str).value_counts()
            entry["class_balance"] = {c: int(counts.get(c, 0)) for c in schema.classes}
        report[name] = entry
        if len(frame) == 0:
            warnings.append(f"the {name} split is empty")
    base = splits.get(reference)
    overlap: dict[str, int] = {}
    if base is not None:
        base_balance = report[reference].get("class_balance", {})
        for name, frame in splits.items():
            if name == reference:
                continue
            found = shared_rows(base, frame, schema.features, name=name)
            overlap[name] = int(found.rows or 0) if found is not None else 0
            if found is not None:
                warnings.append(found.message)
            missing = [
                c
                for c, n in report[name].get("class_balance", {}).items()
                if n == 0 and base_balance.get(c, 0) > 0 and len(frame) > 0
            ]
            if missing:
                warnings.append(
                    f"the {name} split has no rows of class(es) {missing}: its scores say "
                    "nothing about them; use a stratified split or more data"
                )
    report["overlap"] = overlap
    report["warnings"] = warnings
    return report


def _baseline_names(task: str) -> tuple[str, str]:
    """The trivial baseline's name for ``task`` and the linear one's."""
    return ("majority" if task == "classification" else "mean"), "linear"


def compare_with_baseline(
    sanity: Mapping[str, Any] | None,
    history: Sequence[Mapping[str, float]],
    *,
    task: str,
    baseline: str = "stronger",
) -> dict[str, Any] | None:
    """Does the trained model beat the chosen baseline on the validation split?

    ``baseline`` is ``stronger`` (whichever of the two scores better), ``trivial`` (majority
    class, or the mean for regression) or ``linear``. The model's score is the last epoch's
    ``val_accuracy`` (classification, higher is better) or ``val_loss`` (regression: the MSE in
    standardized units, lower is better; it orders models as the RMSE does). Returns ``None``
    when either side is missing (sanity checks off, no history); otherwise ``beats`` (strictly
    better), ``worse`` (strictly worse; a tie is neither), ``baseline`` (the name of the one
    compared with), ``chosen`` (the setting), ``metric``, ``model``, ``baseline_value``,
    ``scores`` (every baseline's score on the metric) and a ``message``.
    """
    if baseline not in BASELINE_CHOICES:
        raise TrainingError(
            f"evaluate.baseline must be one of {', '.join(BASELINE_CHOICES)}, got {baseline!r}"
        )
    found = (sanity or {}).get("baselines")
    if not isinstance(found, Mapping) or not history:
        return None
    classification = task == "classification"
    metric, history_key = ("accuracy", "val_accuracy") if classification else ("mse", "val_loss")
    model_value = history[-1].get(history_key)
    scores = {
        name: float(entry[metric])
        for name in _baseline_names(task)
        if isinstance(entry := found.get(name), Mapping) and entry.get(metric) is not None
    }
    trivial, linear = _baseline_names(task)
    if baseline == "stronger":
        pick = max if classification else min
        candidates = list(scores)
        name = pick(candidates, key=scores.__getitem__) if candidates else ""
    else:
        name = trivial if baseline == "trivial" else linear
    if name not in scores or model_value is None:
        return None
    reference = scores[name]
    value = float(model_value)
    tie = math.isclose(value, reference, rel_tol=1e-9, abs_tol=1e-12)
    better = value > reference if classification else value < reference
    beats, worse = better and not tie, not better and not tie
    return {
        "beats": beats,
        "worse": worse,
        "baseline": name,
        "chosen": baseline,
        "metric": metric,
        "model": value,
        "baseline_value": reference,
        "scores": scores,
        "message": _baseline_message(
            value, name, reference, scores, metric=metric, beats=beats, worse=worse,
            classification=classification, chosen=baseline,
        ),
    }  # fmt: skip


def _baseline_message(
    value: float,
    name: str,
    reference: float,
    scores: Mapping[str, float],
    *,
    metric: str,
    beats: bool,
    worse: bool,
    classification: bool,
    chosen: str,
) -> str:
    """One sentence: the model's score against the named baseline's, and what to do if it lost."""
    if beats:
        relation = "above" if classification else "below"
    elif worse:
        relation = "below" if classification else "above"
    else:
        relation = "equal to"
    shown = f"validation {metric} {value:.4g} is {relation} the {name} baseline's {reference:.4g}"
    others = {other: score for other, score in scores.items() if other != name}
    if chosen == "stronger" and others:
        listed = " and ".join(f"{n} {s:.4g}" for n, s in scores.items())
        shown += f" (the stronger of {listed})"
    else:
        ahead = [
            f"the {other} baseline scores {score:.4g}"
            for other, score in others.items()
            if (score > value if classification else score < value)
        ]
        if ahead:
            shown += f"; {' and '.join(ahead)}, better than the model"
    if worse:
        shown += (
            ": the network learned less than a simpler model; check the labels, features, "
            "learning rate and epochs (trainpipe doctor explains more)"
        )
    elif not beats:
        shown += ": the network is no better than a simpler model on these rows"
    return shown


def run_sanity_checks(
    spec: Any,
    *,
    data: Any = None,
    log: Callable[[str], None] = print_line,
) -> dict[str, Any]:
    """Run every check for a training spec (:class:`~trainpipe.train.spec.TrainSpec`).

    ``data`` is the training loop's own :class:`~trainpipe.train.training_data.TrainingData`;
    without it both splits are read and the preprocessing fitted here. A streamed run's checks
    look at its seeded sample of each split (``sample_rows`` in the result says how many rows).
    Returns ``{"baselines", "overfit_one_batch", "splits", "seconds"}``; each finding that looks
    wrong is logged as one ``[trainpipe] sanity:`` line. Meant for rank 0 only, before training
    starts.
    """
    from trainpipe.data.table_input import read_input_dataset
    from trainpipe.models import build_model
    from trainpipe.train.training_data import load_training_data

    started = time.perf_counter()
    config = spec.config
    # The very tensors and preprocessing the training loop builds, so the checks see its inputs.
    data = data if data is not None else load_training_data(spec, device="cpu")
    train, val = data.check_tensors()
    preprocess, schema = data.preprocess, data.schema
    x_train, y_train, x_val, y_val = train.x, train.y, val.x, val.y
    if data.samples is not None:
        train_frame, val_frame = data.samples[2], data.samples[3]
    else:
        train_frame, _ = read_input_dataset(spec.train_data, config)
        val_frame, _ = read_input_dataset(spec.validation_data, config, reference=schema)

    baselines = baseline_scores(
        x_train.numpy(), y_train.numpy(), x_val.numpy(), y_val.numpy(),
        task=config.task, seed=config.seed,
    )  # fmt: skip
    n_outputs = len(schema.classes) if config.task == "classification" else 1
    batch = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(config.seed))
    batch = batch[: min(32, len(x_train))]
    overfit = overfit_one_batch(
        lambda: build_model(
            config.model, preprocess.width, n_outputs, vocab_size=len(preprocess.vocabulary),
            task=config.task, feature_names=preprocess.input_names, classes=schema.classes,
        ),
        x_train[batch], y_train[batch], task=config.task, seed=config.seed,
        # near the run's own learning rate, kept in [3e-3, 1e-2]: 1e-2 is too high for the
        # transformer, and below 3e-3 a small MLP needs several hundred steps
        learning_rate=min(max(config.train.learning_rate, 3e-3), 1e-2), steps=300,
    )  # fmt: skip
    splits = split_report({"train": train_frame, "validation": val_frame}, schema)
    result = {
        "baselines": baselines,
        "overfit_one_batch": overfit,
        "splits": splits,
        "seconds": time.perf_counter() - started,
    }
    if data.samples is not None:
        result["sample_rows"] = {"train": len(train_frame), "validation": len(val_frame)}
    if not overfit["passed"]:
        log(f"[trainpipe] sanity: {overfit['message']}")
    for warning in splits["warnings"]:
        log(f"[trainpipe] sanity: {warning}")
    shown = ", ".join(
        f"{name} {k}={v:.4g}"
        for name, values in baselines.items()
        for k, v in values.items()
        if k in ("accuracy", "mse") and v is not None
    )
    log(f"[trainpipe] sanity: baselines on validation: {shown} ({result['seconds']:.2f}s)")
    return result
