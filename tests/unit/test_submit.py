"""``trainpipe submit`` against a fake Kubeflow Pipelines API (a real HTTP server on loopback):
one pipeline version per content hash, runs with the config's parameters and the git commit,
one-line errors naming the host."""

from __future__ import annotations

import datetime
import hashlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from trainpipe_pipelines.submit import (
    DEFAULT_SERVICE_ACCOUNT,
    GitInfo,
    SubmitError,
    build_client,
    content_hash,
    git_info,
    projected_token,
    submit,
)
from trainpipe_pipelines.training_pipeline import DEFAULT_CONFIG, compile_pipeline

from fake_kfp import FakeKFP, serve_fake_kfp
from trainpipe.cli import main
from trainpipe.config import RunConfig, load_config

pytestmark = pytest.mark.unit

TOKEN = "fake-kfp-token-123"
GIT = GitInfo(sha="0123456789abcdef0123456789abcdef01234567", dirty=False)
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
CUSTOM_IMAGE = "registry.example/team/trainpipe:abc123-cpu"


@pytest.fixture
def kfp() -> Iterator[FakeKFP]:
    with serve_fake_kfp(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def client(kfp: FakeKFP) -> Any:
    return build_client(kfp.url, TOKEN)


def _config(*overrides: str) -> RunConfig:
    return load_config(DEFAULT_CONFIG, list(overrides))


def _submit(kfp: FakeKFP, client: Any, config: RunConfig, **kwargs: Any) -> Any:
    return submit(client, config, host=kfp.url, git=GIT, now=NOW, **kwargs)


def _posts(kfp: FakeKFP, route: str) -> list[Any]:
    return [call for call in kfp.calls if call.route == route]


def test_first_submit_uploads_the_pipeline_version_and_starts_a_run(
    kfp: FakeKFP, client: Any, tmp_path: Path
) -> None:
    config = _config()
    result = _submit(kfp, client, config, experiment="nightly")

    expected_hash = content_hash(compile_pipeline(tmp_path / "p.yaml"))
    assert len(expected_hash) == 16
    assert result.version_name == expected_hash
    assert result.uploaded_version
    (pipeline,) = kfp.pipelines.values()
    assert pipeline["display_name"] == "trainpipe-digits" == result.pipeline_name
    (version,) = kfp.versions.values()
    assert version["display_name"] == expected_hash
    assert f"git_sha={GIT.sha}" in version["description"]
    (upload,) = _posts(kfp, "POST /pipelines/upload_version")
    uploaded = upload.body["content"]
    assert hashlib.sha256(uploaded).hexdigest()[:16] == expected_hash
    pipeline_spec, platform_spec = yaml.safe_load_all(uploaded)
    assert pipeline_spec["pipelineInfo"]["name"] == "trainpipe-training"
    assert "kubernetes" in platform_spec["platforms"]

    (experiment,) = kfp.experiments.values()
    assert experiment["display_name"] == "nightly"
    (run,) = kfp.runs.values()
    assert run["experiment_id"] == experiment["experiment_id"] == result.experiment_id
    assert run["pipeline_version_reference"] == {
        "pipeline_id": pipeline["pipeline_id"],
        "pipeline_version_id": version["pipeline_version_id"],
    }
    parameters = run["runtime_config"]["parameters"]
    assert parameters == {"config_json": config.to_json()}
    assert RunConfig.from_json(parameters["config_json"]) == config
    assert run["display_name"] == "digits-01234567-20260102-030405"
    assert f"git_sha={GIT.sha}" in run["description"] and "git_dirty=false" in run["description"]
    assert run["service_account"] == DEFAULT_SERVICE_ACCOUNT
    assert result.run_url == f"{kfp.url}/#/runs/details/{run['run_id']}"
    # Every request carried the token.
    assert {call.authorization for call in kfp.calls} == {f"Bearer {TOKEN}"}


def test_resubmitting_the_same_content_uploads_nothing_and_starts_another_run(
    kfp: FakeKFP, client: Any
) -> None:
    first = _submit(kfp, client, _config())
    calls_before = len(kfp.calls)
    second = _submit(kfp, client, _config())

    assert not second.uploaded_version
    assert (second.pipeline_id, second.version_id) == (first.pipeline_id, first.version_id)
    assert second.run_id != first.run_id
    later = kfp.calls[calls_before:]
    assert not [
        c for c in later if c.route in ("POST /pipelines", "POST /pipelines/upload_version")
    ]
    assert [c.route for c in later].count("POST /runs") == 1
    assert len(kfp.pipelines) == 1 and len(kfp.versions) == 1 and len(kfp.runs) == 2
    assert len(kfp.experiments) == 1


def test_a_changed_config_value_changes_the_run_not_the_version(kfp: FakeKFP, client: Any) -> None:
    first = _submit(kfp, client, _config())
    second = _submit(kfp, client, _config("train.epochs=3", "tune.parallel_trials=3"))

    assert second.version_id == first.version_id and not second.uploaded_version
    runs = {run["run_id"]: run for run in kfp.runs.values()}
    parameters = runs[second.run_id]["runtime_config"]["parameters"]
    assert json.loads(parameters["config_json"])["train"]["epochs"] == 3
    assert json.loads(parameters["config_json"])["tune"]["parallel_trials"] == 3
    assert (
        json.loads(runs[first.run_id]["runtime_config"]["parameters"]["config_json"])["train"][
            "epochs"
        ]
        == _config().train.epochs
    )


def test_another_image_is_another_version_whose_every_step_runs_it(
    kfp: FakeKFP, client: Any
) -> None:
    default = _submit(kfp, client, _config())
    custom = _submit(kfp, client, _config(), image=CUSTOM_IMAGE)

    assert custom.uploaded_version and custom.version_name != default.version_name
    assert custom.pipeline_id == default.pipeline_id
    spec = kfp.versions[custom.version_id]["pipeline_spec"]
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {CUSTOM_IMAGE}


def test_a_concurrent_upload_of_the_same_content_is_reused(kfp: FakeKFP, client: Any) -> None:
    first = _submit(kfp, client, _config())

    class LateClient:
        """Sees no version on its first lookup, as if another submit uploaded it just after."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.lookups = inner, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def list_pipeline_versions(self, **kwargs: Any) -> Any:
            self.lookups += 1
            found = self.inner.list_pipeline_versions(**kwargs)
            if self.lookups == 1:
                found.pipeline_versions = []
            return found

    second = _submit(kfp, LateClient(client), _config())
    assert not second.uploaded_version and second.version_id == first.version_id
    assert len(_posts(kfp, "POST /pipelines/upload_version")) == 2  # the second one got 409
    assert len(kfp.versions) == 1


def test_a_wrong_token_is_one_clear_error_naming_the_host(kfp: FakeKFP) -> None:
    with pytest.raises(SubmitError, match=r"refused.*HTTP 401.*KFP_TOKEN") as caught:
        build_client(kfp.url, "not-the-token")
    assert kfp.url in str(caught.value)
    assert "not-the-token" not in str(caught.value)


def test_an_unreachable_host_is_one_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    with pytest.raises(SubmitError, match=r"cannot reach Kubeflow Pipelines at .*port-forward"):
        build_client(host, TOKEN)


def test_an_api_failure_mid_submit_names_the_host_and_the_step(kfp: FakeKFP, client: Any) -> None:
    kfp.fail["POST /runs"] = 403
    with pytest.raises(SubmitError, match=r"refused the run creation \(HTTP 403") as caught:
        _submit(kfp, client, _config())
    assert kfp.url in str(caught.value)
    kfp.fail["POST /pipelines/upload_version"] = 500
    kfp.versions.clear()
    with pytest.raises(SubmitError, match=r"pipeline version upload failed \(HTTP 500"):
        _submit(kfp, client, _config())


def test_cli_submit_prints_the_run_url(
    kfp: FakeKFP, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    monkeypatch.delenv("TRAINPIPE_IMAGE", raising=False)
    argv = ["submit", "--host", kfp.url + "/", "--experiment", "cli", "--set", "train.epochs=2"]
    assert main([*argv, "--image", CUSTOM_IMAGE, "--pipeline-root", "minio://trainpipe/kfp"]) == 0
    out = capsys.readouterr().out
    (run,) = kfp.runs.values()
    assert f"{kfp.url}/#/runs/details/{run['run_id']}" in out
    assert "uploaded version" in out
    config = json.loads(run["runtime_config"]["parameters"]["config_json"])
    assert config["train"]["epochs"] == 2
    assert config["job"]["image"] == CUSTOM_IMAGE  # training pods run the same image
    assert run["display_name"].startswith("digits-")
    assert run["runtime_config"]["pipeline_root"] == "minio://trainpipe/kfp"

    # An explicit --set job.image wins over --image (a CUDA image for the training pods).
    cuda = "registry.example/team/trainpipe:abc123-cuda"
    assert main([*argv, "--image", CUSTOM_IMAGE, "--set", f"job.image={cuda}"]) == 0
    assert "reused version" in capsys.readouterr().out
    latest = max(kfp.runs.values(), key=lambda r: r["run_id"])
    assert json.loads(latest["runtime_config"]["parameters"]["config_json"])["job"]["image"] == cuda


def test_cli_submit_without_a_host_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KFP_HOST", raising=False)
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    assert main(["submit"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("trainpipe: error:") and "--host URL (or KFP_HOST)" in err
    assert main(["submit", "--host", "ftp://nowhere"]) == 1
    assert "is not an http(s) URL" in capsys.readouterr().err


def test_git_info_reads_the_checkout_or_falls_back_to_github_sha(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    (repo / "f.txt").write_text("one")
    git("add", "f.txt")
    git("commit", "-q", "-m", "one")
    sha = git("rev-parse", "HEAD")
    assert git_info(repo, env={}) == GitInfo(sha=sha, dirty=False)
    (repo / "f.txt").write_text("two")
    assert git_info(repo, env={}) == GitInfo(sha=sha, dirty=True)
    assert GitInfo(sha=sha, dirty=True).short == sha[:8]

    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert git_info(outside, env={"GITHUB_SHA": "f" * 40}) == GitInfo(sha="f" * 40, dirty=False)
    assert git_info(outside, env={}).short == "nogit"


def test_a_pod_uses_its_projected_service_account_token(
    kfp: FakeKFP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token_file))
    assert projected_token() == TOKEN
    client = build_client(kfp.url)
    client.list_pipelines()
    assert {call.authorization for call in kfp.calls} == {f"Bearer {TOKEN}"}
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "missing"))
    assert projected_token() is None
