"""Process exit without the interpreter's last walks over every object.

When a process that has loaded torch, torch._dynamo (every optimizer loads it) and scikit-learn
exits, CPython's final garbage collections visit each of their objects: about 1.2 s of one core
per process on this project's CI machine, paid by every pipeline stage, every training worker
and every CLI command. :func:`skip_final_collection` freezes the collector when the process
exits (``gc.freeze`` moves every live object out of its reach), which brings that to about
0.2 s. ``atexit`` handlers still run and the standard streams are still flushed. What no longer
happens is the collector tearing down objects that are still alive at exit; Python promises
nothing for those (a file written without ``with`` or ``close()`` may lose its last writes even
without this), and trainpipe closes every file it writes before a stage or a worker returns.
"""

from __future__ import annotations

import atexit
import gc

__all__ = ["skip_final_collection"]

_registered = False


def skip_final_collection() -> None:
    """Freeze the garbage collector when this process exits (once, however often called).

    The freeze runs as an ``atexit`` handler, so objects that live on until the exit are never
    examined again, while collection goes on as usual for as long as the process works.
    """
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
