"""Exact duplicate rows in a stream: 64-bit row hashes and the set of rows seen so far.

A stream cannot keep every row to compare with, so :func:`row_hashes` reduces each cleaned row to
a 64-bit hash and :class:`SeenRows` keeps the hashes seen, in sorted ``uint64`` runs: 8 bytes per
distinct row (16 MB for two million rows, plus a transient copy while two runs merge). Two
different rows share a hash with probability about 2**-64 (~5e-20) per pair, so wrongly dropping
a row among ``n`` distinct rows has odds of about ``n**2 / 2**65`` (~1e-7 for two million rows).
As in pandas, NaN equals NaN and -0.0 equals 0.0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SeenRows", "mix64", "row_hashes"]

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SEED = np.uint64(0x9E3779B97F4A7C15)


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, in place: a bijection of uint64 with full avalanche."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def row_hashes(values: np.ndarray, gaps: np.ndarray | None, codes: np.ndarray | None) -> np.ndarray:
    """64-bit hashes of the rows of ``values`` (columns x rows) and the label ``codes``.

    ``gaps`` is the NaN mask of ``values`` (None: no NaN; computed when ``codes`` is None and the
    label is part of ``values``). Equal rows hash equal with NaN == NaN and -0.0 == 0.0, as
    :meth:`pandas.DataFrame.duplicated` compares them.
    """
    canonical = values + 0.0  # -0.0 + 0.0 is +0.0
    if gaps is None and codes is None:
        gaps = np.isnan(canonical)
    if gaps is not None:
        canonical[gaps] = np.nan  # one NaN bit pattern
    bits = canonical.view(np.uint64)
    hashes = np.full(values.shape[1], _SEED, dtype=np.uint64)
    for column in bits:
        hashes ^= column
        mix64(hashes)
    if codes is not None:
        hashes ^= codes.astype(np.uint64)
        mix64(hashes)
    return hashes


class SeenRows:
    """The set of row hashes seen so far: sorted ``uint64`` runs, 8 bytes per distinct row.

    Runs are merged like a binary counter (a run is merged into the one before it while that one
    is at most twice as long), so there are O(log n) runs and each hash is copied O(log n) times.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def first_seen(self, hashes: np.ndarray) -> np.ndarray:
        """Mark the hashes never seen before (the first of equal ones) and remember them."""
        unique, first = np.unique(hashes, return_index=True)
        fresh = np.ones(len(unique), dtype=bool)
        for run in self._runs:
            where = np.minimum(np.searchsorted(run, unique), len(run) - 1)
            fresh &= run[where] != unique
        keep = np.zeros(len(hashes), dtype=bool)
        keep[first[fresh]] = True
        new = unique[fresh]
        if len(new):
            self._runs.append(new)
            while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
                last = self._runs.pop()
                merged = np.concatenate((self._runs.pop(), last))
                merged.sort(kind="stable")  # two sorted runs: a linear merge
                self._runs.append(merged)
        return keep
