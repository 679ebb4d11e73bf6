"""The ``tracking`` section: the MLflow tracking server each pipeline run is recorded in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from trainpipe.config.problems import Problems

__all__ = ["MLFLOW_SCHEMES", "TrackingConfig", "masked_uri"]

MLFLOW_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks")
"""The tracking URI schemes MLflow's client takes (a database scheme may name its driver:
``postgresql+psycopg2``); a URI without a scheme is a local folder."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_RULE = (
    "an MLflow tracking URI: http(s)://HOST[:PORT] of an MLflow server, file:PATH or a folder, "
    "sqlite:///PATH, postgresql://, mysql://, mssql:// or databricks (empty: off)"
)


@dataclass(kw_only=True)
class TrackingConfig:
    """Where each pipeline run is tracked as an experiment run (MLflow); off by default."""

    mlflow: str = ""
    """The MLflow tracking URI, e.g. ``http://mlflow.mlflow.svc:5000``; empty: no tracking.
    Needs ``pip install 'trainpipe[mlflow]'``. Credentials come from MLflow's environment
    variables (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``, ``MLFLOW_TRACKING_TOKEN``), never from
    the URI: the config is recorded with every run and registered version."""
    experiment: str = ""
    """The MLflow experiment the runs go to (created when missing); empty: the run's ``name``."""

    @property
    def enabled(self) -> bool:
        """Whether runs are tracked."""
        return bool(self.mlflow)

    def experiment_name(self, run_name: str) -> str:
        """The experiment of a run named ``run_name``."""
        return self.experiment or run_name

    def check(self, problems: Problems) -> None:
        """A URI MLflow can take, holding no password; an experiment name without padding."""
        if self.mlflow:
            scheme = _scheme(self.mlflow)
            base = scheme.split("+", 1)[0]
            parts = urlsplit(self.mlflow)
            ok = base in MLFLOW_SCHEMES or scheme == ""
            if ok and base in ("http", "https"):
                ok = bool(parts.hostname)
            if problems.need(ok, "tracking.mlflow", _RULE, masked_uri(self.mlflow)):
                problems.need(
                    not _password(self.mlflow),
                    "tracking.mlflow",
                    "a URI without a password (the config is recorded with every run): set "
                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
                    "MLFLOW_TRACKING_TOKEN) in the environment instead",
                    masked_uri(self.mlflow),
                )
        problems.need(
            self.experiment == self.experiment.strip() and "\n" not in self.experiment,
            "tracking.experiment",
            "a name without leading or trailing spaces or line breaks (empty: the run's name)",
            self.experiment,
        )


def _scheme(uri: str) -> str:
    """The URI's scheme, lowercased; "" for a path (a Windows drive letter is a path too)."""
    match = _SCHEME.match(uri)
    if match is None or len(match.group(1)) == 1:
        return ""
    return match.group(1).lower()


def _password(uri: str) -> str:
    try:
        return urlsplit(uri).password or ""
    except ValueError:
        return ""


def masked_uri(uri: str) -> str:
    """``uri`` with any password in it replaced by ``***``, fit for a message or a tag."""
    password = _password(uri)
    if not password:
        return uri
    parts = urlsplit(uri)
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
