"""Following a trial's training job while it runs, so the pruner can stop it early.

A trial with ``tune.trial_backend: job`` trains as a job of its own. Its rank 0 logs an epoch
line after every epoch (:mod:`trainpipe.train.epoch_line`); :class:`EpochFollower` reads each
one as the job logs it, hands it to the trial (which reports it and asks the pruner), and once
the trial says "prune" (or its metric is unusable) sets the stop event the job backend watches:
the local backend stops the agents (SIGTERM), a cluster backend deletes the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from trainpipe.train.epoch_line import parse_epoch_line

EpochHandler = Callable[[int, dict[str, float]], None]
JOB_EPOCHS = "job_epochs"
"""Trial user attribute: the epochs a job trial's job finished (a pruned one's, before it
stopped; the pruner heard of the first ``epochs`` of them)."""


class EpochFollower:
    """Feeds a running job's epoch lines to ``on_epoch`` in order, each epoch once; the first
    exception ``on_epoch`` raises (``optuna.TrialPruned``, a non-finite metric's error) stops
    the job and is kept for :meth:`raise_verdict`."""

    def __init__(self, on_epoch: EpochHandler) -> None:
        self.on_epoch = on_epoch
        self.stop = threading.Event()
        """Set once the trial's verdict is in: the job backend stops the job."""
        self.reported = 0
        """Epochs handed to ``on_epoch`` so far."""
        self.logged = 0
        """Epochs the job finished (its furthest epoch line), those after the stop included; an
        epoch a restarted job logs again counts once."""
        self.verdict: BaseException | None = None
        self._lock = threading.Lock()

    def line(self, line: str) -> None:
        """One line of the job's log (a log sink: called from the backend's reader threads,
        so it never raises)."""
        parsed = parse_epoch_line(line)
        if parsed is None:
            return
        epoch, row = parsed
        with self._lock:
            self.logged = max(self.logged, epoch + 1)
            # A job restarted from a checkpoint logs the epochs since it again: each counts once.
            if self.stop.is_set() or epoch != self.reported:
                return
            try:
                self.on_epoch(epoch, row)
            except BaseException as exc:
                self.verdict = exc
                self.stop.set()
            else:
                self.reported += 1

    def raise_verdict(self) -> None:
        """Raise what ``on_epoch`` raised, if it did."""
        if self.verdict is not None:
            raise self.verdict
