"""Scoring a split streamed from its row groups, for the validate and evaluate stages.

A DataLoader's worker processes (``train.stream.num_workers``, each
``train.stream.prefetch_factor`` blocks ahead) read one row group at a time and transform it
with the model's preprocessing; this process runs the model over it in chunks and feeds the
running totals (:mod:`trainpipe.evaluate.incremental`). Memory is bounded by a row group and the
prefetch depth, not by the split.

What needs rows rather than totals (the champion comparison, the bias report, the regression
scatter) gets a seeded sample of at most ``evaluate.stream_sample_rows`` rows, drawn by
position before the pass, so it does not depend on the workers; the first rows give the
latency samples, and the first misclassified rows are read again at the end for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from trainpipe.data.dataset import Schema
from trainpipe.data.parquet_blocks import ParquetBlocks
from trainpipe.data.worker_processes import loader_workers
from trainpipe.errors import DataError
from trainpipe.evaluate.curves import misclassified_samples
from trainpipe.evaluate.incremental import ClassificationTotals, RegressionTotals
from trainpipe.train.artifacts import LoadedModel
from trainpipe.train.data import Preprocess
from trainpipe.train.input_report import InputReport

__all__ = ["ScoredBlock", "StreamedScores", "score_streamed"]

FORWARD_CHUNK = 1024
"""Rows per forward pass: a row group of images would not fit through a CNN at once."""
MISCLASSIFIED_LIMIT = 16


@dataclass(frozen=True)
class ScoredBlock:
    """One row group, read and transformed in a loader worker."""

    block: int
    features: torch.Tensor
    target: np.ndarray
    """Class indices (classification) or target values (regression)."""
    sample: pd.DataFrame
    """The block's rows drawn into the sample, as read."""
    report: InputReport
    """What the preprocessing filled or found unseen in the block."""


@dataclass
class StreamedScores:
    """What one streamed pass over a split leaves: the totals and the few rows kept."""

    location: str
    task: str
    totals: ClassificationTotals | RegressionTotals
    blocks: int
    sample: pd.DataFrame
    """The seeded sample's rows, as read (features, label, sensitive column)."""
    latency_inputs: torch.Tensor
    """The first rows' model inputs, for the single-sample latency."""
    report: InputReport
    """What the preprocessing filled or found unseen, over the split."""
    misclassified: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows scored."""
        return self.totals.rows

    def metrics(self) -> dict[str, Any]:
        """The metrics of the split, as the in-memory stage computes them."""
        return self.totals.metrics()

    def summary(self) -> dict[str, Any]:
        """How the split was read, for the evaluation's metrics (``streamed``)."""
        return {"rows": self.rows, "blocks": self.blocks, "sample_rows": len(self.sample)}


class _BlockScoring(Dataset[ScoredBlock]):
    """Serves one row group per request in the loader's workers."""

    def __init__(
        self,
        blocks: ParquetBlocks,
        *,
        columns: list[str],
        label: str,
        preprocess: Preprocess,
        task: str,
        sample: dict[int, np.ndarray],
    ) -> None:
        self.blocks, self.columns, self.label = blocks, columns, label
        self.preprocess, self.task, self.sample = preprocess, task, sample
        self.offsets = np.concatenate([[0], np.cumsum(blocks.block_rows)])

    def __len__(self) -> int:
        return len(self.blocks.block_rows)

    def __getitem__(self, block: int) -> ScoredBlock:
        frame = self.blocks.read([block], self.columns, use_threads=get_worker_info() is None)
        first, end = self.offsets[block], self.offsets[block + 1]
        where = f"{self.blocks.location} (rows {first:,} to {end:,})"
        try:
            features, report = self.preprocess.transform_with_report(frame)
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from exc
        return ScoredBlock(
            block=block,
            features=features,
            target=self._target(frame[self.label], where),
            sample=frame.iloc[self.sample.get(block, np.empty(0, dtype=np.int64))],
            report=report,
        )

    def _target(self, column: pd.Series, where: str) -> np.ndarray:
        if self.task == "classification":
            labels = column.astype(str)
            codes = pd.Index(self.preprocess.classes).get_indexer(labels)
            if (codes < 0).any():
                unknown = sorted(set(labels[codes < 0]))[:5]
                raise DataError(
                    f"{where}: label column {self.label!r} has values {unknown} that the model "
                    f"does not predict (its classes: {self.preprocess.classes}); score it with a "
                    "model trained on these classes"
                )
            return codes.astype(np.int64)
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            bad = column[~np.isfinite(values)].iloc[0]
            raise DataError(
                f"{where}: label column {self.label!r} holds {bad!r}, not a finite number; "
                "fix or drop the row upstream"
            )
        return values


def _as_is(item: Any) -> Any:
    """With ``batch_size=None`` the loader hands over one block as the worker made it."""
    return item


def _sample_positions(
    total: int, size: int, seed: int, offsets: np.ndarray
) -> dict[int, np.ndarray]:
    """A seeded sample of ``size`` of ``total`` row positions (all of them when fewer), as the
    positions within each block."""
    if size >= total:
        chosen = np.arange(total)
    else:
        rng = np.random.default_rng([seed, 0x5A4D])
        chosen = np.sort(rng.choice(total, size=size, replace=False))
    blocks = np.searchsorted(offsets, chosen, side="right") - 1
    return {int(block): chosen[blocks == block] - offsets[block] for block in np.unique(blocks)}


def score_streamed(
    model: LoadedModel,
    location: str,
    schema: Schema,
    *,
    seed: int,
    num_workers: int,
    prefetch_factor: int,
    sample_rows: int = 0,
    latency_rows: int = 0,
    extra_columns: Sequence[str] = (),
    misclassified_image: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> StreamedScores:
    """Score the trainpipe dataset at ``location`` one row group at a time.

    ``sample_rows``: how many rows to keep (seeded by ``seed``); ``latency_rows``: how many of
    the first rows' inputs to keep; ``extra_columns``: more columns to read for the sample (the
    bias report's sensitive column); ``misclassified_image``: find the first misclassified rows
    and read their pixels again for the report; ``progress(blocks_done, blocks)`` after each.

    Raises:
        DataError: the dataset holds no readable ``data.parquet``, a block's features do not
            transform, or a label is one the model does not know (naming the rows).
    """
    blocks = ParquetBlocks.open(location)
    present = set(blocks.columns)
    columns = list(dict.fromkeys([*schema.features, schema.label, *extra_columns]))
    lacking = [c for c in columns if c not in present]
    if lacking:
        raise DataError(
            f"{location}: the table lacks the columns {lacking[:5]} the model and the settings "
            "need; score the split stage's output for this model"
        )
    offsets = np.concatenate([[0], np.cumsum(blocks.block_rows)]).astype(np.int64)
    reading = _BlockScoring(
        blocks,
        columns=columns,
        label=schema.label,
        preprocess=model.preprocess,
        task=model.task,
        sample=_sample_positions(blocks.rows, sample_rows, seed, offsets),
    )
    loader: DataLoader[ScoredBlock] = DataLoader(
        reading,
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=prefetch_factor if num_workers else None,
        collate_fn=_as_is,
        **loader_workers(num_workers, __name__),
    )
    totals: ClassificationTotals | RegressionTotals = (
        ClassificationTotals(model.classes)
        if model.task == "classification"
        else RegressionTotals()
    )
    samples: list[pd.DataFrame] = []
    latency: list[torch.Tensor] = []
    wrong: list[tuple[int, int, int, int]] = []  # (block, row in block, true, predicted)
    reports: list[InputReport] = []
    for done, scored in enumerate(loader, start=1):
        outputs = _forward(model, scored.features)
        if isinstance(totals, ClassificationTotals):
            totals.add(scored.target, outputs)
            if misclassified_image and len(wrong) < MISCLASSIFIED_LIMIT:
                predicted = outputs.argmax(axis=1)
                missing = MISCLASSIFIED_LIMIT - len(wrong)
                rows = np.flatnonzero(predicted != scored.target)[:missing]
                wrong += [
                    (scored.block, int(r), int(scored.target[r]), int(predicted[r])) for r in rows
                ]
        else:
            predicted = outputs[:, 0] * model.preprocess.target_std + model.preprocess.target_mean
            totals.add(scored.target, predicted)
        reports.append(scored.report)
        if len(scored.sample):
            samples.append(scored.sample)
        kept = sum(len(t) for t in latency)
        if kept < latency_rows:
            latency.append(scored.features[: latency_rows - kept].clone())
        if progress is not None:
            progress(done, len(reading))
    sample = pd.concat(samples, ignore_index=True) if samples else pd.DataFrame(columns=columns)
    width = model.preprocess.width
    result = StreamedScores(
        location=location,
        task=model.task,
        totals=totals,
        blocks=len(reading),
        sample=sample,
        latency_inputs=torch.cat(latency) if latency else torch.empty((0, width)),
        report=InputReport.combine(reports),
    )
    if wrong:
        result.misclassified = _misclassified_pixels(blocks, schema, wrong, offsets, model.classes)
    return result


def _forward(model: LoadedModel, features: torch.Tensor) -> np.ndarray:
    """The model's raw outputs for a block, ``FORWARD_CHUNK`` rows at a time."""
    parts = [
        model.predict_tensor(features[start : start + FORWARD_CHUNK]).numpy()
        for start in range(0, len(features), FORWARD_CHUNK)
    ]
    if not parts:
        width = max(1, len(model.classes))
        return np.empty((0, width), dtype=np.float32)
    return np.concatenate(parts)


def _misclassified_pixels(
    blocks: ParquetBlocks,
    schema: Schema,
    wrong: list[tuple[int, int, int, int]],
    offsets: np.ndarray,
    labels: Sequence[str],
) -> list[dict[str, Any]]:
    """The report's misclassified images: their blocks read again, only those rows kept."""
    pixels: list[np.ndarray] = []
    for block in sorted({b for b, *_ in wrong}):
        frame = blocks.read([block], schema.features)
        rows = [r for b, r, *_ in wrong if b == block]
        values = frame.iloc[rows].apply(pd.to_numeric, errors="coerce")
        pixels.append(values.to_numpy(np.float64))
    ordered = sorted(wrong)
    entries = misclassified_samples(
        np.concatenate(pixels),
        [t for *_, t, _ in ordered],
        [p for *_, p in ordered],
        labels,
        limit=MISCLASSIFIED_LIMIT,
    )
    for entry, (block, row, *_) in zip(entries, ordered, strict=True):
        entry["row"] = int(offsets[block] + row)
    return entries
