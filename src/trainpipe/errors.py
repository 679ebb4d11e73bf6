"""The trainpipe error hierarchy.

Every error trainpipe raises on purpose derives from :class:`TrainpipeError`, so the CLI can print
its one-line message and exit non-zero instead of a traceback. Each subclass names a concern; the
message always names the offending file, column, setting or value and says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence


class TrainpipeError(Exception):
    """Root of every error trainpipe raises deliberately."""


class ConfigError(TrainpipeError):
    """A run configuration is malformed: unknown key, bad value, wrong type.

    ``problems`` lists every problem found (a config file reports all of its problems at once);
    the message shows them all.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) or [message]


class DataError(TrainpipeError):
    """Input data cannot be used: missing file, empty table, missing label, garbage values."""


class StorageError(TrainpipeError):
    """An object store operation failed: unreachable endpoint, missing bucket, denied access."""


class TrainingError(TrainpipeError):
    """Training failed: the job exited non-zero, produced no model, or diverged.

    A failed job's error carries its diagnosis: ``failure_class`` (``preempted``, ``host_oom``,
    ``killed``, ``non_finite``, ...) and the ``action`` that fixes it; both are empty when
    undiagnosed.
    """

    def __init__(self, message: str, *, failure_class: str = "", action: str = "") -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.action = action


class JobStopped(TrainingError):
    """The training job was stopped because its caller asked (a pruned tuning trial's job)."""


class LaunchError(TrainpipeError):
    """A training job could not be launched or supervised by its backend."""


class TuningError(TrainpipeError):
    """Hyperparameter tuning failed: bad search space, no completed trial."""


class RegistryError(TrainpipeError):
    """A model registry operation failed: bad model name, missing version, immutable version."""


class PipelineError(TrainpipeError):
    """The pipeline run failed in one of its stages."""


class UserCodeError(TrainpipeError):
    """The user's code cannot be used: a reference that does not import, a factory that raises
    or returns the wrong thing, a loss that is not a finite scalar, a ``code:`` folder that is
    missing, empty, too large or does not compile."""
