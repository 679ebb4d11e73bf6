"""How trainpipe starts the processes that read and decode data: DataLoader workers and the
image and audio decoding pool.

They start from a fork server, never by forking the process that asks for them. A training rank
runs threads (the watchdog, the resource sampler, the metrics endpoint, a persistent loader's
queue feeders, torch's own): forking it copies whatever locks those threads hold at that
instant, and CPython 3.11 can then deadlock the new worker before it runs a line (the
validation loader of a streamed run hung that way, in ``PyOS_AfterFork_Child``, once in a few
dozen runs). The fork server is a fresh single-threaded process that has imported the heavy
libraries and the modules that define the workers' jobs once; each worker forks from it, so it
starts in a fraction of a second and inherits no lock. What a worker is given (its dataset, its
decode jobs) travels pickled.

A worker's parent is then the fork server, not the process it works for, and every worker keeps
the server alive: torch's own check (the parent changed) never fires, so a client killed
without closing its loaders (a SIGKILLed rank) would leave the server and its workers behind
for good. Each worker therefore watches its client (:func:`exit_with`) and exits when it is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from functools import partial
from multiprocessing.context import BaseContext
from typing import Any

import psutil

PRELOAD = ("__main__", "numpy", "pandas", "pyarrow.parquet", "torch")
"""Imported once by the fork server, so no worker imports them again (``__main__``: the
program's main module, which every worker also runs, under another name, before its job)."""

WATCH_SECONDS = 1.0
"""How often a worker checks that its client is still there."""

_preload: dict[str, None] = dict.fromkeys(PRELOAD)


def worker_context(*modules: str) -> BaseContext:
    """The multiprocessing context for data workers: the fork server where the platform has
    one (Linux, macOS), else spawn (Windows).

    ``modules``: where the caller's worker jobs are defined (its ``__name__``), imported by the
    fork server with :data:`PRELOAD`. The server of a process starts with its first worker, so
    the modules named by then are the ones it holds; a module named later is imported by each
    worker that needs it.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    _preload.update(dict.fromkeys(modules))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(_preload))  # the server skips what it cannot import
    return context


def loader_workers(workers: int, *modules: str) -> dict[str, Any]:
    """A DataLoader's keyword arguments for ``workers`` worker processes: the fork server's
    context (``modules`` as for :func:`worker_context`) and :func:`exit_with` this process;
    none for ``workers == 0`` (reading in this process)."""
    if workers <= 0:
        return {}
    return {
        "multiprocessing_context": worker_context(*modules),
        "worker_init_fn": partial(exit_with, os.getpid()),
    }


def exit_with(client: int, *_: object) -> None:
    """Run first in a new worker (a DataLoader's ``worker_init_fn``, a pool's ``initializer``):
    end the worker once the process ``client`` has exited."""
    try:
        watched = psutil.Process(client)
    except psutil.NoSuchProcess:
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            try:
                gone = watched.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                os._exit(0)

    threading.Thread(target=watch, name="trainpipe-client-watch", daemon=True).start()
