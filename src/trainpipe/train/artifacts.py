"""The model artifact: weights in safetensors, the model description, the label map, the metrics.

Its files and the clean-up of a half-written one are in :mod:`trainpipe.train.model_files`;
this module writes and loads them.
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from trainpipe.config import ModelConfig, RunConfig
from trainpipe.config.data import CsvConfig
from trainpipe.errors import TrainingError
from trainpipe.models import build_model
from trainpipe.storage.factory import open_store
from trainpipe.train.data import Preprocess
from trainpipe.train.input_report import InputReport, UnseenCategoryWarning
from trainpipe.train.model_files import LABELS_KEY, METRICS_KEY, MODEL_KEY, WEIGHTS_KEY
from trainpipe.usercode.activation import activate_recorded


def save_model(
    location: str,
    model: nn.Module,
    *,
    model_config: ModelConfig,
    task: str,
    label: str,
    preprocess: Preprocess,
    metrics: dict[str, Any],
    data_hash: str = "",
    code: dict[str, str] | None = None,
    csv: CsvConfig | None = None,
    data_format: str = "auto",
) -> None:
    """Write the model artifact to ``location``; ``model.json`` goes last.

    ``data_hash`` is the content hash of the dataset the model was trained on (the dataset
    schema's ``data_hash``); it is kept in ``model.json`` so that registering the directory later
    records it in the lineage. ``code`` (:func:`code_record`) names the user's code archive, which
    :func:`load_model` fetches and verifies before it builds a custom model. ``csv`` and
    ``data_format`` are how the training data's files were read (``data.csv``, ``data.format``):
    ``trainpipe predict`` reads new tables the same way (:attr:`LoadedModel.csv`).
    """
    store = open_store(location)
    if store.exists(MODEL_KEY):
        # An earlier model's marker: a save that stops halfway must not look complete.
        store.delete(MODEL_KEY)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory(prefix="trainpipe-model-") as tmp:
        path = Path(tmp) / WEIGHTS_KEY
        save_file(state, str(path))
        store.upload_file(path, WEIGHTS_KEY)
    store.write_json(LABELS_KEY, {str(i): c for i, c in enumerate(preprocess.classes)})
    store.write_json(METRICS_KEY, metrics)
    n_outputs = len(preprocess.classes) if task == "classification" else 1
    store.write_json(
        MODEL_KEY,
        {
            "format": "trainpipe.model/v1",
            "task": task,
            "label": label,
            "model": model_config.__dict__,
            "n_features": preprocess.width,
            "n_outputs": n_outputs,
            "preprocess": preprocess.to_dict(),
            "data_hash": data_hash,
            **({"code": code} if code else {}),
            **({"csv": dataclasses.asdict(csv)} if csv is not None else {}),
            **({"data_format": data_format} if data_format != "auto" else {}),
        },
    )


def code_record(config: RunConfig) -> dict[str, str] | None:
    """``{"uri": ..., "digest": ...}`` of the run's packed code, or None without one."""
    if not config.code_digest:
        return None
    return {"uri": config.code, "digest": config.code_digest}


@dataclass
class LoadedModel:
    """A model ready for inference, with the preprocessing it was trained with."""

    module: nn.Module
    task: str
    label: str
    preprocess: Preprocess
    description: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        """Class names in output order (empty for regression)."""
        return self.preprocess.classes

    @property
    def csv(self) -> CsvConfig:
        """How the training data's CSV files were read (``data.csv``); the defaults for a model
        saved before that was recorded."""
        return CsvConfig(**self.description.get("csv", {}))

    @property
    def data_format(self) -> str:
        """The training data's ``data.format`` (``auto``: each file's suffix names it)."""
        return str(self.description.get("data_format", "auto"))

    @torch.no_grad()
    def predict_tensor(self, features: torch.Tensor) -> torch.Tensor:
        """Raw outputs for already-standardized features."""
        return self.module(features)

    def score(self, frame: pd.DataFrame) -> Scores:
        """Predictions for raw rows (one per row, none dropped), with class probabilities for
        classification and the :class:`InputReport` of what was filled or unseen; no warning.

        Raises:
            DataError: see :meth:`Preprocess.transform_with_report` (a lacking column, a value
                that is not a number, or a missing value the model's policy refuses).
        """
        features, report = self.preprocess.transform_with_report(frame)
        out = self.predict_tensor(features)
        if self.task == "classification":
            return Scores(
                predictions=out.argmax(dim=1).numpy(),
                probabilities=torch.softmax(out, dim=1).numpy(),
                report=report,
            )
        values = (out.squeeze(1).numpy() * self.preprocess.target_std) + self.preprocess.target_mean
        return Scores(predictions=values, probabilities=None, report=report)

    def input_report(self, frame: pd.DataFrame) -> InputReport:
        """What scoring ``frame`` would fill or find unseen, per column."""
        return self.preprocess.transform_with_report(frame)[1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Class indices (classification) or target values (regression) for raw rows.

        Missing values follow the training run's ``data.missing`` policy (filled, or the call
        raises a DataError naming the row); unseen categories raise one
        :class:`UnseenCategoryWarning` with their counts.
        """
        return _warn_unseen(self.score(frame)).predictions

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities (classification only), columns in :attr:`classes` order; missing
        values and unseen categories as in :meth:`predict`."""
        if self.task != "classification":
            raise TrainingError(
                f"predict_proba needs a classification model; this one is {self.task} "
                f"(label {self.label!r}): use predict"
            )
        probabilities = _warn_unseen(self.score(frame)).probabilities
        assert probabilities is not None
        return probabilities


@dataclass(frozen=True)
class Scores:
    """What :meth:`LoadedModel.score` returns."""

    predictions: np.ndarray
    """Class indices (classification) or target values (regression), one per row."""
    probabilities: np.ndarray | None
    """``[rows, classes]`` class probabilities (classification), else None."""
    report: InputReport


def _warn_unseen(scores: Scores) -> Scores:
    if scores.report.unseen:
        warnings.warn(
            UnseenCategoryWarning(scores.report.unseen_message(), scores.report.unseen),
            stacklevel=3,
        )
    return scores


def load_model(location: str) -> LoadedModel:
    """Load a model artifact for inference; weights only, nothing is unpickled."""
    store = open_store(location)
    if not store.exists(MODEL_KEY):
        raise TrainingError(
            f"no model at {location}: {MODEL_KEY} is missing (training did not finish?)"
        )
    description = store.read_json(MODEL_KEY)
    activate_recorded(description)  # a custom model's code, fetched and verified by digest
    model_config = ModelConfig(**description["model"])
    preprocess = Preprocess(**description["preprocess"])
    module = build_model(
        model_config,
        description["n_features"],
        description["n_outputs"],
        vocab_size=len(preprocess.vocabulary),
        task=description["task"],
        feature_names=preprocess.input_names,
        classes=preprocess.classes,
    )
    with tempfile.TemporaryDirectory(prefix="trainpipe-model-") as tmp:
        path = Path(tmp) / WEIGHTS_KEY
        store.download_file(WEIGHTS_KEY, path)
        module.load_state_dict(load_file(str(path)))
    module.eval()
    return LoadedModel(
        module=module,
        task=description["task"],
        label=description["label"],
        preprocess=preprocess,
        description=description,
    )
