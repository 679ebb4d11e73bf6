"""Follow pods' container logs incrementally: every line once, in order, in bounded reads.

The pod log API (``GET pods/{name}/log``) has no cursor, and the official Python client offers
``since_seconds`` and ``timestamps`` (not ``sinceTime``). So each read asks only for the last
stretch of the log, with every line stamped by the node's container runtime:

* the stretch is the time since the previous read, measured on this process's monotonic clock,
  plus ``overlap_seconds``: a read returns about one poll interval of output, never the whole
  log, and the skew between this machine's clock and the node's does not matter;
* a line is shown unless its key (timestamp in ns, n-th line with that timestamp) was shown by
  a recent read, so the overlap repeats nothing, and a line that reached the log file a little
  late (stdout and stderr are written separately) is still shown;
* a last line without its newline waits, and the stretch keeps reaching back to where it
  started; the final poll shows it as it is. Once the stretch has moved past its start, the
  kubelet returns the rest of such a line unstamped at the top of a read: it was shown already;
* when the container restarts, the rest of the previous container's log (``previous``) comes
  first, then the new container's from its start; a pod recreated under the same name starts
  over. Keys shown by recent reads are kept either way, so a read that raced with the restart
  repeats nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trainpipe.launch.kube import KubeApi
from trainpipe.launch.pods import container_of, pod_name, pod_uid, restart_count

__all__ = ["DEFAULT_OVERLAP_SECONDS", "PodLogFollower", "parse_log_line"]

#: How far each read reaches back before the previous one: covers the API request's latency and
#: the container runtime's delay between stamping a line and writing it to the log file.
DEFAULT_OVERLAP_SECONDS = 10.0

_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) ")
_Key = tuple[int, int]


def parse_log_line(line: str) -> tuple[int | None, str]:
    """Split a ``timestamps=true`` log line into (nanoseconds since the epoch, text).

    A line without a timestamp (None) is returned whole.
    """
    match = _STAMP.match(line)
    if match is None:
        return None, line
    zone = "+00:00" if match[3] == "Z" else match[3]
    seconds = int(datetime.fromisoformat(match[1] + zone).timestamp())
    return seconds * 1_000_000_000 + int((match[2] or "0").ljust(9, "0")), line[match.end() :]


@dataclass
class _Cursor:
    """How far one pod's log has been shown."""

    instance: tuple[str, int]
    """(pod uid, container restart count) of the container being read."""
    anchor: float | None = None
    """Clock time of the read the next one must reach back to (None: read from the start)."""
    last_anchor: float | None = None
    """The anchor the last read of the current container used (for its last lines, later)."""
    shown: dict[_Key, float] = field(default_factory=dict)
    """Keys of the lines shown by recent reads, with the clock time of the read."""


class PodLogFollower:
    """Shows the new lines of pods' logs at each :meth:`follow`, each line once, in order.

    Args:
        api: the Kubernetes calls.
        namespace: the pods' namespace.
        container: the container to follow in each pod (the API picks the only one if absent).
        emit: receives (pod name, line) for every line and restart notice, in order.
        clock: monotonic seconds (the backend's, injectable for tests).
        overlap_seconds: how far each read reaches back before the previous one.
    """

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        container: str,
        emit: Callable[[str, str], None],
        clock: Callable[[], float],
        *,
        overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.container = container
        self.emit = emit
        self.clock = clock
        self.overlap_seconds = overlap_seconds
        self._cursors: dict[str, _Cursor] = {}

    def follow(self, pod: dict[str, Any], *, final: bool = False) -> None:
        """Show what ``pod`` (an API-shaped dict from a fresh list) logged since the last call.

        ``final`` also shows a last line that has no newline yet. Raises the API's
        :class:`~trainpipe.launch.kube.KubeApiError`; nothing is marked as shown then, so the
        next call reads that stretch again.
        """
        name = pod_name(pod)
        container = container_of(pod, self.container)
        instance = (pod_uid(pod), restart_count(pod, self.container))
        cursor = self._cursors.setdefault(name, _Cursor(instance))
        if instance != cursor.instance:
            if instance[0] == cursor.instance[0]:
                self._read(name, container, cursor, since=cursor.last_anchor, previous=True)
                attempts = instance[1] - cursor.instance[1]
                gone = (
                    f"; the logs of {attempts - 1} attempt(s) in between are gone"
                    if attempts > 1
                    else ""
                )
                self.emit(name, f"--- container restarted (restart {instance[1]}{gone}) ---")
            else:
                self.emit(name, "--- pod recreated under the same name ---")
            cursor.instance = instance
            cursor.anchor = cursor.last_anchor = None
        self._read(name, container, cursor, since=cursor.anchor, final=final)

    def _read(
        self,
        name: str,
        container: str | None,
        cursor: _Cursor,
        *,
        since: float | None,
        previous: bool = False,
        final: bool = False,
    ) -> None:
        started = self.clock()
        since_seconds = (
            None if since is None else max(1, math.ceil(started - since + self.overlap_seconds))
        )
        text = self.api.read_pod_log(
            name,
            self.namespace,
            container,
            since_seconds=since_seconds,
            timestamps=True,
            previous=previous,
        )
        lines = text.split("\n")
        waiting = lines.pop()  # "" after a final newline, else a line still being written
        if waiting and (final or previous):  # no more of it will come: the job or container ended
            lines.append(waiting)
            waiting = ""
        counts: dict[int, int] = {}
        stamp = -1
        for number, line in enumerate(lines):
            parsed, body = parse_log_line(line)
            if parsed is None and number == 0 and since_seconds is not None:
                # The rest of a line written in two parts whose first part is older than the
                # window: that line was shown whole when the window still reached its start.
                continue
            stamp = parsed if parsed is not None else stamp
            index = counts[stamp] = counts.get(stamp, -1) + 1
            key = (stamp, index)
            if key in cursor.shown:
                continue
            cursor.shown[key] = started
            for part in body.rstrip("\r").splitlines() or [""]:
                self.emit(name, part)
        if previous:
            return
        cursor.last_anchor = since
        if not waiting:
            cursor.anchor = started
        self._forget(cursor)

    def _forget(self, cursor: _Cursor) -> None:
        """Drop keys that no later read can return again (they are older than its window)."""
        if cursor.anchor is None or cursor.last_anchor is None:
            return  # the next read may start from the beginning: keep every key
        # A window reaches back at most overlap + 1 s before its anchor, and a line shown by a
        # read was stamped before that read was served (request latency < overlap).
        oldest = min(cursor.anchor, cursor.last_anchor) - 2 * self.overlap_seconds - 1
        for key in [k for k, at in cursor.shown.items() if at < oldest]:
            del cursor.shown[key]
