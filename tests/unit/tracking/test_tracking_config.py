"""The ``tracking`` section: an MLflow URI MLflow can take, without a password; the experiment."""

from __future__ import annotations

import pytest

from trainpipe.config import RunConfig, TrackingConfig
from trainpipe.config.tracking import masked_uri
from trainpipe.errors import ConfigError

pytestmark = pytest.mark.unit


def config(**tracking: str) -> RunConfig:
    return RunConfig.from_dict(
        {"name": "iris", "data": {"source": "builtin:iris"}, "tracking": tracking}
    )


def test_tracking_is_off_by_default_and_the_experiment_is_the_run_name() -> None:
    default = RunConfig.from_dict({"name": "iris", "data": {"source": "builtin:iris"}})
    assert default.tracking == TrackingConfig()
    assert not default.tracking.enabled
    assert default.tracking.experiment_name(default.name) == "iris"
    named = config(mlflow="http://127.0.0.1:5000", experiment="team-a")
    assert named.tracking.enabled and named.tracking.experiment_name("iris") == "team-a"
    assert RunConfig.from_json(named.to_json()).tracking == named.tracking


@pytest.mark.parametrize(
    "uri",
    [
        "http://mlflow.mlflow.svc:5000",
        "https://mlflow.example.com/",
        "sqlite:///tmp/mlflow.db",
        "postgresql+psycopg2://mlflow@db:5432/mlflow",
        "mysql://mlflow@db/mlflow",
        "file:///tmp/mlruns",
        "./mlruns",
        "databricks",
        "databricks://profile",
    ],
)
def test_uris_mlflow_takes_are_accepted(uri: str) -> None:
    assert config(mlflow=uri).tracking.mlflow == uri


@pytest.mark.parametrize("uri", ["s3://bucket/mlruns", "minio://bucket/x", "http://", "ftp://h/x"])
def test_a_uri_mlflow_cannot_take_names_the_setting_and_the_value(uri: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(mlflow=uri)
    message = str(caught.value)
    assert "tracking.mlflow must be an MLflow tracking URI" in message
    assert repr(uri) in message and "http(s)://HOST[:PORT]" in message


def test_a_password_in_the_uri_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_PASSWORD") as caught:
        config(mlflow="https://me:s3cret@mlflow.example.com")
    assert "s3cret" not in str(caught.value)
    assert "https://me:***@mlflow.example.com" in str(caught.value)
    assert masked_uri("postgresql://u:pw@db/x") == "postgresql://u:***@db/x"
    assert masked_uri("http://h:5000") == "http://h:5000"
    assert config(mlflow="https://me@mlflow.example.com").tracking.enabled  # a user alone is fine


@pytest.mark.parametrize("name", [" padded", "padded ", "two\nlines"])
def test_an_experiment_name_with_padding_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=r"tracking\.experiment must be a name without"):
        config(experiment=name)


def test_an_unknown_tracking_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown key tracking\.uri"):
        config(uri="http://h:5000")
