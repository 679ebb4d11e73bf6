"""The epoch line a training job's rank 0 logs after every epoch, and reading it back.

::

    2026-01-01T00:00:00.000000Z [trainpipe] epoch 3/20 train_loss=0.4121 val_loss=0.3987 ...

The RFC 3339 timestamp comes first because Katib's StdOut metrics collector orders metrics by
it. A tuning worker follows a trial job's log through :func:`parse_epoch_line` to ask the pruner
after each epoch while the job runs. Values carry 4 significant digits.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_LINE = re.compile(r"\[trainpipe\] epoch (\d+)/(\d+)((?: [A-Za-z_][\w.]*=\S+)*)\s*$")


def format_epoch_line(epoch: int, epochs: int, row: dict[str, float]) -> str:
    """The line of ``row``, epoch ``epoch`` (from 0) of ``epochs``."""
    shown = " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} [trainpipe] epoch {epoch + 1}/{epochs} {shown}"


def parse_epoch_line(line: str) -> tuple[int, dict[str, float]] | None:
    """The epoch (from 0) and row of an epoch line, wherever it sits in ``line`` (a log
    prefix such as ``[node 0]`` is fine); None for any other line."""
    match = _LINE.search(line)
    if match is None:
        return None
    row: dict[str, float] = {"epoch": float(match.group(1))}
    for pair in match.group(3).split():
        key, _, text = pair.partition("=")
        try:
            row[key] = float(text)
        except ValueError:
            return None
    return int(match.group(1)) - 1, row
