"""Model inputs read straight from an Arrow table: the streamed split's fast path.

A streamed training window is a few row groups decoded by pyarrow. Going through pandas costs
more than the decoding itself: the conversion copies every column into a column-major block,
and gathering shuffled rows from that block reads it across its grain. Here the common table
(numeric features, none missing) becomes a row-major float32 matrix one cache-sized slab of
rows at a time, each slab standardized while it is still in cache, and a string label becomes
class indices through the few distinct values of each chunk, not through one Python string per
row.

Both functions return None where they do not apply; the caller then takes the preprocessing's
own transform (:meth:`~trainpipe.train.data.Preprocess.transform_features`,
``transform_target``), whose results these match: bit for bit for float64 and integer
features, and for float32 features within float32 rounding of that (standardized in float32, as
:meth:`~trainpipe.train.data.Preprocess.standardize` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from trainpipe.train.data import Preprocess

__all__ = ["class_codes", "numeric_inputs"]

SLAB_BYTES = 1 << 22
"""Bytes (as float64) of the slab of rows stacked and standardized at a time: small enough to
stay in cache between the two, large enough that the per-column calls do not dominate (8,192
rows of 64 features; 1,024-row slabs took twice as long)."""


def numeric_inputs(
    table: pa.Table, preprocess: Preprocess, rows: np.ndarray | None = None
) -> np.ndarray | None:
    """The standardized float32 input ``[rows, features]`` of ``table``'s rows at positions
    ``rows`` (every row, in order, when None), or None unless every feature is numeric and no
    value is missing (the preprocessing's missing-value policy then decides)."""
    if preprocess.categories or preprocess.text:
        return None
    names = preprocess.features
    if any(name not in table.column_names for name in names):
        return None
    columns = table.select(names)
    types = [field.type for field in columns.schema]
    if not all(pa.types.is_floating(t) or pa.types.is_integer(t) for t in types):
        return None
    if any(column.null_count for column in columns.columns):
        return None
    if rows is not None:
        columns = columns.take(pa.array(rows, type=pa.int64()))
    math = np.float32 if all(t == pa.float32() for t in types) else np.float64
    out = np.empty((columns.num_rows, len(names)), dtype=np.float32)
    slab = max(256, SLAB_BYTES // (8 * max(1, len(names))))
    at = 0
    for batch in columns.to_batches(max_chunksize=slab):
        arrays = [column.to_numpy(zero_copy_only=False) for column in batch.columns]
        end = at + batch.num_rows
        if math is np.float32:  # stacked and standardized in place, in the output
            values = np.stack(arrays, axis=1, out=out[at:end])
        else:
            values = np.stack(arrays, axis=1, dtype=np.float64)
        if np.isnan(values).any():
            return None
        standardized = preprocess.standardize(values)
        if standardized.base is not out:
            out[at:end] = standardized
        at = end
    return out


def class_codes(column: pa.ChunkedArray, classes: Sequence[str]) -> np.ndarray | None:
    """Each value's index in ``classes`` (int64), or None unless the column holds strings (as
    values or as a dictionary's) that are all known classes without a missing one (the
    preprocessing's own transform then names what it refuses)."""
    index = pd.Index(list(classes))
    codes = []
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            values, positions = chunk.dictionary, chunk.indices
        else:
            encoded = chunk.dictionary_encode()
            values, positions = encoded.dictionary, encoded.indices
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return None
        if positions.null_count:
            return None
        known = index.get_indexer(values.to_pylist())
        if (known < 0).any():
            return None
        codes.append(known.astype(np.int64)[positions.to_numpy(zero_copy_only=False)])
    if not codes:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(codes)
