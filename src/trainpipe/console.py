"""Whole-line console output that threads cannot run together.

``print`` writes the text and the newline as two writes, so two threads printing at once (the
training monitor's watchdog beside the loop, the local job backend's log pumps of several nodes)
can join their lines, and anything parsing the log (the local runner, Katib's metrics collector)
misses both. Every default log sink in trainpipe is :func:`print_line`.
"""

from __future__ import annotations

import sys
import threading

__all__ = ["print_line"]

_LOCK = threading.Lock()


def print_line(line: str) -> None:
    """Write ``line`` and a newline to standard output as one unit, and flush."""
    with _LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
