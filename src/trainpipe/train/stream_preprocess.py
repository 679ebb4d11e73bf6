"""The preprocessing of a streamed training split, fitted block by block in bounded memory.

:meth:`Preprocess.fit <trainpipe.train.data.Preprocess.fit>` needs the whole split in memory. Here
each block (row group) is summarized on its own (:func:`summarize_block`, in the loader's worker
processes) and the summaries are combined in block order (:func:`combine`), so the result is the
same on every rank and for every world size:

* exact: the means and standard deviations (Chan et al.'s pairwise update of count, mean and sum
  of squared deviations), the categories and the fill category of each categorical column, the
  class counts, the text vocabulary (word counts add up), a regression target's scaling, and a
  ``mean`` fill value;
* from a seeded sample of :data:`SAMPLE_ROWS` rows drawn evenly from every block: the clipping
  quantiles (``data.clip_quantile``) and a ``median`` or ``mode`` fill value of a numeric
  column. A split of at most that many rows is sampled whole, so these are exact too; above it
  the fit says how many rows the estimate rests on (:attr:`StreamedFit.notice`).

With ``data.clip_quantile`` the blocks are read twice: the moments are those of the clipped
values, whose bounds come from the first pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trainpipe.data.dataset import Schema
from trainpipe.data.text import vocabulary_from_counts, word_counts
from trainpipe.train.data import Preprocess
from trainpipe.train.missing import CONSTANT_CATEGORY, fills

__all__ = [
    "SAMPLE_ROWS",
    "BlockSummary",
    "Moments",
    "StreamedFit",
    "block_sample_rows",
    "combine",
    "merge_moments",
    "summarize_block",
]

SAMPLE_ROWS = 50_000
"""Rows of the seeded sample that quantiles and sample-based fill values rest on."""


@dataclass
class Moments:
    """Count, mean and sum of squared deviations per column (NaN-free values only)."""

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of a ``[rows, columns]`` array; a NaN is not counted."""
        present = ~np.isnan(values)
        count = present.sum(axis=0).astype(np.float64)
        total = np.where(present, values, 0.0).sum(axis=0)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        deviation = np.where(present, values - mean, 0.0)
        return cls(count, mean, (deviation**2).sum(axis=0))

    def merge(self, other: Moments) -> Moments:
        """The moments of both parts together (Chan, Golub and LeVeque's pairwise update)."""
        count = self.count + other.count
        safe = np.where(count > 0, count, 1.0)
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / safe
        m2 = self.m2 + other.m2 + delta**2 * self.count * other.count / safe
        return Moments(count, mean, m2)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (numpy's ``std``)."""
        return np.sqrt(self.m2 / np.where(self.count > 0, self.count, 1.0))


@dataclass
class BlockSummary:
    """What one block contributes to the fit."""

    rows: int
    numeric: Moments
    target: Moments | None
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    labels: Counter[str] = field(default_factory=Counter)
    words: Counter[str] = field(default_factory=Counter)
    sample: pd.DataFrame | None = None


def numeric_columns(schema: Schema) -> list[str]:
    """The features standardized as numbers (those neither categorical nor text)."""
    return [f for f in schema.features if f not in schema.categorical + schema.text]


def summarize_block(
    frame: pd.DataFrame,
    schema: Schema,
    *,
    sample_rows: int,
    seed: int,
    block: int,
    clip: tuple[list[float], list[float]] | None = None,
) -> BlockSummary:
    """One block's moments, counts and seeded sample (``sample_rows`` of its rows).

    ``clip``: the bounds of a second pass; its moments are those of the clipped values.
    """
    numeric = numeric_columns(schema)
    values = frame[numeric].to_numpy(dtype=np.float64)
    if clip is not None:
        values = np.clip(values, clip[0], clip[1])
    target = None
    if schema.task == "regression":
        target = Moments.of(frame[[schema.label]].to_numpy(dtype=np.float64))
    summary = BlockSummary(rows=len(frame), numeric=Moments.of(values), target=target)
    if clip is not None:
        return summary
    for column in schema.categorical:
        summary.categories[column] = Counter(frame[column].dropna().astype(str).tolist())
    if schema.task == "classification":
        summary.labels = Counter(frame[schema.label].astype(str).tolist())
    for column in schema.text:
        summary.words = word_counts(frame[column].fillna("").astype(str))
    chosen = np.random.default_rng([seed, block]).permutation(len(frame))[:sample_rows]
    summary.sample = frame.iloc[np.sort(chosen)].reset_index(drop=True)
    return summary


def block_sample_rows(block_rows: list[int]) -> list[int]:
    """Rows each block gives the sample: proportional, :data:`SAMPLE_ROWS` in all (or all)."""
    total = sum(block_rows)
    if total <= SAMPLE_ROWS:
        return list(block_rows)
    return [int(np.ceil(rows * SAMPLE_ROWS / total)) for rows in block_rows]


@dataclass
class StreamedFit:
    """The combined summaries: what :meth:`preprocess` builds the preprocessing from."""

    rows: int
    numeric: Moments
    target: Moments | None
    categories: dict[str, Counter[str]]
    labels: Counter[str]
    words: Counter[str]
    sample: pd.DataFrame

    @property
    def sampled(self) -> bool:
        """Whether the sample is a part of the split (else it is the whole split)."""
        return len(self.sample) < self.rows

    def clip_bounds(self, schema: Schema, quantile: float) -> tuple[list[float], list[float]]:
        """The [q, 1-q] quantiles of every numeric feature, from the sample."""
        values = self.sample[numeric_columns(schema)].to_numpy(dtype=np.float64)
        low = np.quantile(values, quantile, axis=0).tolist()
        high = np.quantile(values, 1 - quantile, axis=0).tolist()
        return low, high

    def notice(self, *, clip_quantile: float, missing: str) -> str | None:
        """The line saying which settings rest on the sample, or None if nothing does."""
        estimated = []
        if clip_quantile > 0:
            estimated.append(f"the data.clip_quantile {clip_quantile:g} bounds")
        if missing in ("median", "mode"):
            estimated.append(f"the data.missing {missing!r} fill values of numeric features")
        if not estimated or not self.sampled:
            return None
        return (
            f"{' and '.join(estimated)} are estimated from a seeded sample of "
            f"{len(self.sample):,} of the training split's {self.rows:,} rows (streamed)"
        )

    def preprocess(
        self,
        schema: Schema,
        *,
        clipped: Moments | None,
        clip: tuple[list[float], list[float]] | None,
        vocab_size: int,
        max_tokens: int,
        missing: str,
        fill_value: float,
    ) -> Preprocess:
        """The :class:`Preprocess` the in-memory fit would build (quantiles from the sample)."""
        numeric = numeric_columns(schema)
        moments = clipped if clipped is not None else self.numeric
        std = moments.std
        std[std < 1e-12] = 1.0
        target_mean, target_std = 0.0, 1.0
        if self.target is not None:
            target_mean = float(self.target.mean[0])
            target_std = float(self.target.std[0]) or 1.0
        fill_numeric, fill_categories = self._fill_values(numeric, missing, fill_value)
        text: dict[str, object] = {}
        if schema.text:
            text = {
                "text": schema.text[0],
                "vocabulary": vocabulary_from_counts(self.words, vocab_size),
                "max_tokens": max_tokens,
            }
        return Preprocess(
            features=numeric,
            categories={c: sorted(self.categories[c]) for c in schema.categorical},
            mean=moments.mean.tolist(),
            std=std.tolist(),
            target_mean=target_mean,
            target_std=target_std,
            classes=list(schema.classes),
            clip_low=list(clip[0]) if clip else [],
            clip_high=list(clip[1]) if clip else [],
            column_roles=dict(schema.column_roles),
            files=dict(schema.files),
            missing=missing,
            fill_numeric=fill_numeric,
            fill_categories=fill_categories,
            **text,  # type: ignore[arg-type]
        )

    def _fill_values(
        self, numeric: list[str], policy: str, fill_value: float
    ) -> tuple[list[float], dict[str, str]]:
        """As :func:`~trainpipe.train.missing.fit_fill_values`: exact means and category
        modes, numeric medians and modes from the sample."""
        if not fills(policy):
            return [], {}
        if policy == "constant":
            values = [float(fill_value)] * len(numeric)
        elif policy == "mean":
            values = self.numeric.mean.tolist()
        else:
            columns = self.sample[numeric].apply(pd.to_numeric, errors="coerce")
            if policy == "median":
                values = [float(v) for v in columns.median()]
            else:
                values = [float(columns[c].mode().iloc[0]) for c in numeric]
        categories = {
            column: CONSTANT_CATEGORY if policy == "constant" else _mode(counts)
            for column, counts in self.categories.items()
        }
        return values, categories


def _mode(counts: Counter[str]) -> str:
    """The most frequent value; of equally frequent ones the smallest (as pandas' ``mode``)."""
    top = max(counts.values())
    return min(value for value, count in counts.items() if count == top)


def combine(summaries: list[BlockSummary]) -> StreamedFit:
    """The summaries of every block, in block order, as one."""
    first = summaries[0]
    numeric, target = first.numeric, first.target
    categories = {c: Counter(v) for c, v in first.categories.items()}
    labels, words = Counter(first.labels), Counter(first.words)
    samples = [first.sample]
    for summary in summaries[1:]:
        numeric = numeric.merge(summary.numeric)
        if target is not None and summary.target is not None:
            target = target.merge(summary.target)
        for column, counts in summary.categories.items():
            categories[column].update(counts)
        labels.update(summary.labels)
        words.update(summary.words)
        samples.append(summary.sample)
    frames = [s for s in samples if s is not None]
    return StreamedFit(
        rows=sum(s.rows for s in summaries),
        numeric=numeric,
        target=target,
        categories=categories,
        labels=labels,
        words=words,
        sample=pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
    )


def merge_moments(summaries: list[BlockSummary]) -> Moments:
    """The numeric moments of every block (a second, clipped pass), in block order."""
    moments = summaries[0].numeric
    for summary in summaries[1:]:
        moments = moments.merge(summary.numeric)
    return moments
