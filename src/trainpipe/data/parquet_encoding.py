"""How trainpipe encodes the Parquet it writes.

Parquet writers try a dictionary for every column by default. For a continuous feature the
dictionary holds every value once and each row an index into it, which makes a column chunk about
half again as large as the plain values, and slower to read: a streamed split reads every byte
again each epoch. :func:`dictionary_columns` picks the columns worth a dictionary.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["dictionary_columns"]


def dictionary_columns(table: pa.Table, sample: int = 10_000) -> list[str]:
    """The columns worth dictionary encoding: text, and numbers whose first rows repeat.

    Parquet writers try a dictionary for every column by default and give it up only after
    hashing a megabyte of distinct values, which costs several times the rest of the write for
    continuous features. The values written are the same either way; only the encoding differs.
    """
    chosen = []
    for field, column in zip(table.schema, table.columns, strict=True):
        if not pa.types.is_floating(field.type):
            chosen.append(field.name)
            continue
        head = np.asarray(column.slice(0, sample).to_numpy())
        if len(np.unique(head)) <= len(head) // 2:
            chosen.append(field.name)
    return chosen
