"""Groups of rows that must share a split, and a (stratified) split that keeps each group whole.

Two rows belong together when their feature values are identical (survey answers repeat
naturally, often with different labels) or when they share a value of the schema's group column
(a panel's person); belonging together is transitive, so the groups are the connected components
of the graph joining rows through both. A table of distinct rows without a group column has only
single-row groups, and :func:`~trainpipe.data.split.split_frame` splits it as before.

:func:`assign_splits` places the multi-row groups first, largest first, each into the split
whose share of the group's classes is furthest below target, then fills every split up to its
target class by class with single rows in a seeded random order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from trainpipe.data.dataset import Schema
from trainpipe.data.quality import row_hashes

__all__ = ["RowGroups", "assign_splits", "row_groups"]


@dataclass(frozen=True)
class RowGroups:
    """A group code per row (0..n_groups-1) and what joined them."""

    codes: np.ndarray
    by: str
    """What defines the groups: identical features, and the group column when there is one."""

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return int(self.codes.max()) + 1 if len(self.codes) else 0

    @property
    def sizes(self) -> np.ndarray:
        """Rows per group, indexed by group code."""
        return np.bincount(self.codes, minlength=self.n_groups)

    @property
    def grouped_rows(self) -> int:
        """Rows in a group of two or more."""
        sizes = self.sizes
        return int(sizes[sizes > 1].sum())


def row_groups(frame: pd.DataFrame, schema: Schema) -> RowGroups:
    """The groups of ``frame``: rows joined by identical feature values and, when the schema
    has a group column, by equal values of it (a missing group value joins nothing)."""
    feature_codes = pd.factorize(row_hashes(frame, schema.features))[0]
    if not schema.group:
        return RowGroups(codes=feature_codes, by="identical feature values")
    group_codes = pd.factorize(frame[schema.group], use_na_sentinel=True)[0].copy()
    lonely = group_codes < 0
    group_codes[lonely] = group_codes.max() + 1 + np.arange(int(lonely.sum()))
    n_features = int(feature_codes.max()) + 1
    nodes = n_features + int(group_codes.max()) + 1
    edges = coo_matrix(
        (np.ones(len(frame)), (feature_codes, n_features + group_codes)), shape=(nodes, nodes)
    )
    _, components = connected_components(edges, directed=False)
    codes = pd.factorize(components[feature_codes])[0]
    return RowGroups(codes=codes, by=f"identical feature values and {schema.group!r}")


def assign_splits(
    groups: RowGroups, classes: np.ndarray | None, fractions: tuple[float, float], seed: int
) -> np.ndarray:
    """The split of every row: 0 train, 1 validation, 2 test; rows of a group share one.

    ``classes`` holds each row's class code for a stratified split (None: unstratified);
    ``fractions`` are the validation and test fractions of all rows.
    """
    n = len(groups.codes)
    codes = np.zeros(n, dtype=np.int64) if classes is None else np.asarray(classes)
    n_classes = int(codes.max()) + 1 if n else 1
    share = np.array([1.0 - sum(fractions), *fractions])
    counts = np.zeros((groups.n_groups, n_classes))
    np.add.at(counts, (groups.codes, codes), 1)
    target = share[:, None] * counts.sum(axis=0)[None, :]
    placed = np.zeros_like(target)
    split_of_group = np.full(groups.n_groups, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    sizes = groups.sizes
    order = rng.permutation(groups.n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]
    per_split = target.sum(axis=1)
    for group in order[sizes[order] > 1]:
        need = (target - placed) / np.maximum(per_split, 1e-12)[:, None]
        split = int(np.argmax(need @ counts[group]))
        split_of_group[group] = split
        placed[split] += counts[group]
    splits = split_of_group[groups.codes]
    singles = np.flatnonzero(splits < 0)
    for code in range(n_classes):
        rows = rng.permutation(singles[codes[singles] == code])
        room = np.maximum(np.rint(target[1:, code] - placed[1:, code]), 0).astype(np.int64)
        n_val = min(int(room[0]), len(rows))
        n_test = min(int(room[1]), len(rows) - n_val)
        splits[rows] = 0
        splits[rows[:n_val]] = 1
        splits[rows[n_val : n_val + n_test]] = 2
    return splits
