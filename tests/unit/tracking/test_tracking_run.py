"""The pipeline's MLflow run, as each stage's process finds it, and calls that never raise."""

from __future__ import annotations

import os
import sys

import pytest

from fake_mlflow import FakeMlflowClient
from trainpipe.config import RunConfig
from trainpipe.tracking import mlflow_run
from trainpipe.tracking.mlflow_run import GIVE_UP_AFTER, KFP_RUN_TAG, Tracking, metric_key

pytestmark = pytest.mark.unit

URI = "http://127.0.0.1:5000"


def config(**tracking: str) -> RunConfig:
    settings = {"mlflow": URI, **tracking}
    return RunConfig.from_dict(
        {"name": "iris", "data": {"source": "builtin:iris"}, "tracking": settings}
    )


def opened(client: FakeMlflowClient, run_id: str = "kfp-1", **kwargs: str) -> Tracking:
    tracking = Tracking.for_config(config(**kwargs), client=client, log=lambda line: None)
    tracking.open(run_id=run_id, run_name=f"iris-{run_id}", tags={"trainpipe.name": "iris"})
    return tracking


def test_every_stage_of_a_pipeline_run_finds_the_one_run_by_its_kfp_run_id() -> None:
    client = FakeMlflowClient()
    first = opened(client)
    assert first.mlflow_run_id and first.failures == 0
    run = client.runs[first.mlflow_run_id]
    assert client.experiments[run.info.experiment_id].name == "iris"  # the run's name
    assert run.data.tags[KFP_RUN_TAG] == "kfp-1" and run.data.tags["mlflow.runName"] == "iris-kfp-1"
    # a later stage, another process: the same run, set running again after it was ended
    client.set_terminated(first.mlflow_run_id, status="FAILED")
    again = opened(client)
    assert again.mlflow_run_id == first.mlflow_run_id
    assert run.info.status == "RUNNING"
    # another pipeline run, another MLflow run in the same experiment
    other = opened(client, run_id="kfp-2")
    assert other.mlflow_run_id != first.mlflow_run_id
    assert len(client.active()) == 2
    named = opened(client, experiment="team-a")
    assert client.experiments[client.runs[named.mlflow_run_id].info.experiment_id].name == "team-a"


def test_two_stages_creating_the_run_at_once_keep_the_older_one() -> None:
    client = FakeMlflowClient()
    real_search = client.search_runs
    calls = 0

    def racing_search(*args: object, **kwargs: object) -> list[object]:
        nonlocal calls
        calls += 1
        if calls == 1:  # this stage looks before another stage creates the run
            found = real_search(*args, **kwargs)  # type: ignore[arg-type]
            experiment_id = next(iter(client.experiments))
            client.create_run(experiment_id, start_time=1, tags={KFP_RUN_TAG: "kfp-1"})
            return found
        return real_search(*args, **kwargs)  # type: ignore[arg-type]

    client.search_runs = racing_search  # type: ignore[method-assign]
    tracking = opened(client)
    (kept,) = client.active()
    assert tracking.mlflow_run_id == kept.info.run_id and kept.info.start_time == 1
    assert len(client.runs) == 2  # its own run was deleted
    assert tracking.failures == 0


def test_a_recorded_run_is_used_as_it_is_and_reopened() -> None:
    client = FakeMlflowClient()
    first = opened(client)
    client.set_terminated(first.mlflow_run_id, status="FINISHED")
    later = Tracking.for_config(config(), client=client, log=lambda line: None)
    assert later.open(mlflow_run_id=first.mlflow_run_id) == first.mlflow_run_id
    assert client.runs[first.mlflow_run_id].info.status == "RUNNING"
    assert "search_runs" not in client.calls[-2:]


def test_params_metrics_tags_and_text_go_to_the_run_within_mlflows_limits() -> None:
    client = FakeMlflowClient()
    tracking = opened(client)
    params = {f"p.{i}": i for i in range(250)}
    params |= {"long": "x" * 7000, "flag": True, "none": None, "list": [1, 2], "odd (cm)": 1.5}
    tracking.log_params(params)
    tracking.log_metrics({"val_loss": 0.5, "flag": True, "name": "x"}, step=2)  # type: ignore[dict-item]
    tracking.set_tags({"trainpipe.blessed": False, "n": 3})
    tracking.log_text("<html></html>", "reports/evaluation.html")
    data = client.runs[tracking.mlflow_run_id].data
    assert client.calls.count("log_batch") == 3 + 1 + 1  # 255 params in batches of 100
    assert data.params["p.249"] == "249" and len(data.params["long"]) == 6000
    assert (data.params["flag"], data.params["none"], data.params["list"]) == (
        "true",
        "null",
        "[1, 2]",
    )
    assert data.params["odd _cm_"] == "1.5" and metric_key("a:b/c") == "a_b/c"
    assert data.metrics == {"val_loss": [(2, 0.5)]}  # non-numbers left out
    assert data.tags["trainpipe.blessed"] == "false" and data.tags["n"] == "3"
    assert client.runs[tracking.mlflow_run_id].artifacts == {
        "reports/evaluation.html": "<html></html>"
    }
    assert tracking.failures == 0


def test_a_failing_server_never_raises_and_every_failure_is_logged_and_counted() -> None:
    client = FakeMlflowClient()
    lines: list[str] = []
    tracking = Tracking.for_config(config(), client=client, log=lines.append)
    assert tracking.open(run_id="kfp-1") != ""
    client.fail = {"log_batch"}
    tracking.log_metrics({"val_loss": 0.5}, step=1)
    assert tracking.failures == 1 and len(lines) == 1
    assert "warning: tracking: MLflow could not log metrics" in lines[0]
    assert URI in lines[0] and "connection refused" in lines[0] and "training goes on" in lines[0]
    client.fail = False
    tracking.log_metrics({"val_loss": 0.4}, step=2)  # a success resets the count in a row
    client.fail = True
    for step in range(3, 3 + GIVE_UP_AFTER + 3):
        tracking.log_metrics({"val_loss": 0.3}, step=step)
    tracking.finish()
    calls = len(client.calls)
    # after GIVE_UP_AFTER failures in a row it stops calling, and counts what it skips
    assert tracking.failures == 1 + GIVE_UP_AFTER + 3 + 1
    assert calls == len(client.calls)
    assert any("skipped for the rest of this process" in line for line in lines)
    summary = tracking.summary()
    assert summary["failures"] == tracking.failures and summary["mlflow_run_id"]
    assert len(summary["errors"]) == 3 and summary["uri"] == URI


def test_a_server_down_from_the_start_counts_every_call_it_could_not_make() -> None:
    client = FakeMlflowClient()
    client.fail = True
    lines: list[str] = []
    tracking = Tracking.for_config(config(), client=client, log=lines.append)
    assert tracking.open(run_id="kfp-1") == ""
    tracking.log_params({"a": 1})
    tracking.log_metrics({"b": 1.0})
    assert tracking.start_child(name="trial-0", tags={}) == ""
    assert tracking.failures == 4
    assert "could not open the run" in lines[0]


def test_without_the_mlflow_package_the_warning_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    lines: list[str] = []
    tracking = Tracking.for_config(config(), log=lines.append)
    assert tracking.open(run_id="kfp-1") == ""
    assert tracking.failures == 2  # the client, then the run
    assert "pip install 'trainpipe[mlflow]'" in lines[0]
    assert "pip install 'trainpipe[mlflow]'" in tracking.summary()["errors"][0]


def test_tracking_off_calls_nothing() -> None:
    off = RunConfig.from_dict({"data": {"source": "builtin:iris"}})
    tracking = Tracking.for_config(off, client=FakeMlflowClient())
    assert not tracking.enabled
    assert tracking.open(run_id="kfp-1") == ""
    tracking.log_metrics({"a": 1.0})
    tracking.finish()
    assert tracking.failures == 0 and tracking.summary() == {}
    assert tracking.client is None


def test_the_outermost_call_builds_a_client_with_bounded_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.tracking import MlflowClient

    for name in mlflow_run.HTTP_DEFAULTS:
        monkeypatch.setenv(name, "")  # restored (or removed) after the test
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")  # the user's setting stays
    tracking = Tracking.for_config(config(), log=lambda line: None)
    assert isinstance(tracking.client, MlflowClient)
    assert tracking.client.tracking_uri == URI
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"
