"""Near-duplicates across splits: validation and test rows that sit almost on top of a train row.

An identical row in two splits is caught by :func:`~trainpipe.data.quality.shared_rows` (and the
split keeps identical rows together). A copy with a little noise added, a re-export with rounded
values or a re-encoded image is not identical, yet it leaks just the same. This check embeds the
rows, indexes the train split and looks up each validation and test row's nearest train row:

- tables embed as their numeric features standardized with the train split's mean and standard
  deviation (a missing value at the mean) and their categorical features one-hot encoded with the
  train split's categories; text columns are not compared;
- the distance is the root-mean-square difference per embedded column, so one threshold
  (``split.near_duplicate_distance``, in standard deviations) means the same for 4 columns or 400;
- the index is exact (faiss ``IndexFlatL2``, brute force) up to :data:`EXACT_MAX_PAIRS` row
  pairs, and an HNSW graph (faiss ``IndexHNSWFlat``) above; ``benchmarks/near_duplicates.py``
  measures recall and time of both against a plain brute-force search.

A row at distance 0 is an exact repeat, which ``shared_rows`` already reports: it is not counted
again here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from trainpipe.data.dataset import Schema
from trainpipe.data.quality import Finding

__all__ = [
    "ADVICE",
    "EXACT_MAX_PAIRS",
    "NearestTrainRows",
    "TableEmbedding",
    "embed_images",
    "embed_tables",
    "near_duplicate_finding",
    "nearest_train_rows",
]

Method = Literal["auto", "exact", "hnsw", "ivf"]

EXACT_MAX_PAIRS = 100_000_000_000
"""Train rows x query rows up to which ``method="auto"`` searches exactly: below about this many
pairs (800,000 x 200,000 at 32 features) building an HNSW graph costs more than the brute-force
search it saves (``benchmarks/near_duplicates.py``: at 100,000 rows the flat index takes 0.55 s
and HNSW 2.0 s; at 1,000,000 rows 68 s and 58 s)."""
HNSW_NEIGHBOURS = 32
"""Links per node of the HNSW graph (faiss ``M``)."""
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 64
"""Candidate list sizes while building and searching: enough for recall@1 >= 0.99 of planted
near-duplicates on 100,000 rows (the benchmark prints it)."""
IVF_ROWS_PER_LIST = 1000
IVF_MAX_LISTS = 256
IVF_PROBES = 4
"""The inverted-file index (faiss ``IndexIVFFlat``): train rows are grouped by their nearest of
up to 256 k-means centroids and a query searches the rows of its 4 nearest groups only. A
near-copy lies within a hair of its row, so it shares that row's group or a neighbouring one:
the streamed check (``benchmarks/stream_near_duplicates.py``) finds the planted copies with it
at about a tenth of the brute-force time, though the nearest row it reports for a row that is
not a near-copy may be farther than the true one."""


ADVICE = {
    "fail": "remove them from the source, or set split.near_duplicates: warn to go on with "
    "them recorded (off skips the check; split.near_duplicate_distance sets the threshold)",
    "warn": "remove them from the source (split.near_duplicates: fail stops a run on them; "
    "split.near_duplicate_distance sets the threshold)",
}


@dataclass(frozen=True)
class NearestTrainRows:
    """For each query row, its nearest train row and their RMS distance per column."""

    train_row: np.ndarray
    distance: np.ndarray
    method: str


@dataclass(frozen=True)
class TableEmbedding:
    """How table rows embed: numeric features standardized by ``mean`` and ``std`` (a missing
    value at the mean), categorical ones one-hot over ``categories``; text is not compared."""

    numeric: list[str]
    mean: np.ndarray
    std: np.ndarray
    categories: dict[str, list[str]]

    @staticmethod
    def columns(schema: Schema) -> tuple[list[str], list[str]]:
        """The numeric and the categorical columns that embed."""
        text = set(schema.text)
        categorical = [c for c in schema.categorical if c not in text]
        numeric = [c for c in schema.features if c not in text and c not in categorical]
        return numeric, categorical

    @classmethod
    def scaled(
        cls,
        numeric: list[str],
        mean: np.ndarray,
        std: np.ndarray,
        categories: dict[str, list[str]],
    ) -> TableEmbedding:
        """An embedding from the train split's column means, standard deviations and
        categories; an unknown mean is 0 and a zero or unknown deviation 1."""
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return cls(numeric, np.nan_to_num(mean), std, categories)

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: Schema) -> TableEmbedding:
        """The embedding the ``train`` split defines."""
        numeric, categorical = cls.columns(schema)
        values = train[numeric].to_numpy(dtype=np.float64) if numeric else np.zeros((len(train), 0))
        mean = np.nanmean(values, axis=0) if len(train) else np.zeros(len(numeric))
        std = np.nanstd(values, axis=0) if len(train) else np.ones(len(numeric))
        categories = {c: sorted(train[c].dropna().astype(str).unique()) for c in categorical}
        return cls.scaled(numeric, mean, std, categories)

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """``frame``'s rows as contiguous float32 rows."""
        parts = []
        if self.numeric:
            scaled = (frame[self.numeric].to_numpy(dtype=np.float64) - self.mean) / self.std
            parts.append(np.nan_to_num(scaled, nan=0.0))
        for column, names in self.categories.items():
            text = frame[column].astype(str)
            codes = pd.Categorical(text.where(text.isin(names)), categories=names).codes
            one_hot = np.zeros((len(frame), len(names)))
            known = codes >= 0
            one_hot[np.flatnonzero(known), codes[known]] = 1.0
            parts.append(one_hot)
        joined = np.hstack(parts) if parts else np.zeros((len(frame), 0))
        return np.ascontiguousarray(joined, dtype=np.float32)


def embed_tables(
    train: pd.DataFrame, others: Sequence[pd.DataFrame], schema: Schema
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``train`` and each of ``others`` as float32 rows, scaled and encoded by ``train`` alone."""
    embedding = TableEmbedding.fit(train, schema)
    return embedding.embed(train), [embedding.embed(frame) for frame in others]


THUMBNAIL = 8
"""Image rows embed as ``THUMBNAIL x THUMBNAIL`` gray thumbnails, each centred and scaled to
unit length: re-encoding, resizing and small changes of brightness or contrast barely move a
thumbnail, while a different picture does."""


def embed_images(frames: Sequence[pd.DataFrame], image_shape: Sequence[int]) -> list[np.ndarray]:
    """Each frame's pixel rows (``[C, H, W]`` flattened, as an image folder ingests them) as
    float32 thumbnails (see :data:`THUMBNAIL`)."""
    embedded = []
    for frame in frames:
        pixels = frame.to_numpy(dtype=np.float32).reshape(len(frame), *image_shape)
        small = _adaptive_mean(pixels.mean(axis=1), THUMBNAIL).reshape(len(frame), -1)
        small = small - small.mean(axis=1, keepdims=True)
        small = small / np.maximum(np.linalg.norm(small, axis=1, keepdims=True), 1e-6)
        embedded.append(np.ascontiguousarray(small, dtype=np.float32))
    return embedded


def _adaptive_mean(images: np.ndarray, size: int) -> np.ndarray:
    """``[N, H, W]`` images averaged down to ``[N, size, size]`` over the windows adaptive
    average pooling uses (``torch.nn.functional.adaptive_avg_pool2d``): output cell ``i`` covers
    input rows ``floor(i*H/size)`` to ``ceil((i+1)*H/size)``, and columns alike. In numpy, so the
    split stage does not import torch for it."""
    n, height, width = images.shape

    def windows(length: int) -> list[tuple[int, int]]:
        return [(i * length // size, -(-(i + 1) * length // size)) for i in range(size)]

    out = np.empty((n, size, size), dtype=np.float32)
    for i, (top, bottom) in enumerate(windows(height)):
        band = images[:, top:bottom, :]
        for j, (left, right) in enumerate(windows(width)):
            out[:, i, j] = band[:, :, left:right].mean(axis=(1, 2))
    return out


def nearest_train_rows(
    train: np.ndarray, queries: np.ndarray, *, method: Method = "auto", threads: int = 0
) -> NearestTrainRows:
    """Each query row's nearest row of ``train`` (both float32 ``[rows, dims]``).

    ``method``: ``exact`` (brute force, every pair), ``hnsw`` (an approximate graph index),
    ``ivf`` (an inverted file, :data:`IVF_PROBES`) or ``auto`` (exact up to
    :data:`EXACT_MAX_PAIRS` pairs, else hnsw). ``threads`` > 0 caps faiss's threads.
    """
    import faiss

    if threads > 0:
        faiss.omp_set_num_threads(threads)
    dims = train.shape[1]
    if method == "auto":
        method = "exact" if len(train) * len(queries) <= EXACT_MAX_PAIRS else "hnsw"
    if len(train) == 0 or len(queries) == 0 or dims == 0:
        empty = np.zeros(len(queries))
        return NearestTrainRows(np.full(len(queries), -1), empty + np.inf, method)
    index: Any
    if method == "exact":
        index = faiss.IndexFlatL2(dims)
    elif method == "ivf":
        lists = max(1, min(IVF_MAX_LISTS, len(train) // IVF_ROWS_PER_LIST))
        quantizer = faiss.IndexFlatL2(dims)
        index = faiss.IndexIVFFlat(quantizer, dims, lists)
        index.cp.max_points_per_centroid = 64  # k-means on a sample: enough for the groups
        index.train(train)
        index.nprobe = min(IVF_PROBES, lists)
    else:
        index = faiss.IndexHNSWFlat(dims, HNSW_NEIGHBOURS)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(train)
    squared, found = index.search(queries, 1)
    distance = np.sqrt(np.maximum(squared[:, 0].astype(np.float64), 0.0) / dims)
    return NearestTrainRows(found[:, 0].astype(np.int64), distance, method)


def near_duplicate_finding(
    train: pd.DataFrame,
    parts: Mapping[str, pd.DataFrame],
    schema: Schema,
    *,
    threshold: float,
    severity: Literal["fail", "warn"],
    method: Method = "auto",
    image_shape: Sequence[int] = (),
) -> Finding | None:
    """A finding counting the rows of ``parts`` (``{"validation": frame, "test": frame}``) within
    ``threshold`` of a train row (but not identical to it), or None when there are none.

    With ``image_shape`` (a dataset ingested from an image folder) the rows are compared as
    thumbnails (:func:`embed_images`), so a re-encoded or resized copy of a picture is found.

    The message names each split's count and share, the closest pair (by the frames' index
    labels: row numbers within each split) and the method that searched.
    """
    names = [name for name, frame in parts.items() if len(frame)]
    others = [parts[name] for name in names]
    if image_shape:
        features = list(schema.features)
        train_rows, *embedded = embed_images([train[features], *(f[features] for f in others)],
                                             image_shape)  # fmt: skip
        compared = f"{THUMBNAIL}x{THUMBNAIL} normalized gray thumbnails"
    else:
        train_rows, embedded = embed_tables(train, others, schema)
        text = set(schema.text)
        compared = f"{sum(c not in text for c in schema.features)} standardized features"
    counts: dict[str, int] = {}
    closest: tuple[float, str, object, object] | None = None
    used = ""
    for name, queries in zip(names, embedded, strict=True):
        nearest = nearest_train_rows(train_rows, queries, method=method)
        used = nearest.method
        near = (nearest.distance > 0) & (nearest.distance <= threshold)
        if not near.any():
            continue
        counts[name] = int(near.sum())
        best = int(np.flatnonzero(near)[np.argmin(nearest.distance[near])])
        pair = (
            float(nearest.distance[best]),
            name,
            parts[name].index[best],
            train.index[int(nearest.train_row[best])],
        )
        if closest is None or pair[0] < closest[0]:
            closest = pair
    if closest is None:
        return None
    shown = ", ".join(
        f"{count} of {len(parts[name])} {name} rows ({count / len(parts[name]):.1%})"
        for name, count in counts.items()
    )
    distance, name, row, train_row = closest
    columns = [c for c in schema.features if c not in set(schema.text)]
    return Finding(
        check="near_duplicates",
        severity=severity,
        message=(
            f"{shown} lie within {threshold:g} (RMS over {compared}, "
            f"{used} search) of a train row without being identical to it, e.g. {name} row "
            f"{row} and train row {train_row} (row numbers within each split) at "
            f"{distance:.3g}: near-copies leak into the scores; {ADVICE[severity]}"
        ),
        columns=tuple(columns),
        rows=sum(counts.values()),
    )
