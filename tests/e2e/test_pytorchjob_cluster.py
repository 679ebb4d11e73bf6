"""On a real cluster: the train stage launches a PyTorchJob that trains and writes the model.

Runs only when KUBECONFIG points at a cluster with the training operator and the manifests in
manifests/base applied, and these are set:

- ``TRAINPIPE_E2E_IMAGE``: a trainpipe image the cluster can pull (docker/cpu.Dockerfile);
- ``TRAINPIPE_E2E_STORAGE``: an ``s3://``/``minio://`` prefix reachable from this machine and from
  the pods (``TRAINPIPE_S3_ENDPOINT`` and credentials in this environment; the
  ``trainpipe-storage`` ConfigMap and ``trainpipe-s3-credentials`` Secret in the namespace).
"""

import os
import time
from pathlib import Path

import pytest

from trainpipe.config import RunConfig
from trainpipe.data.ingest import ingest
from trainpipe.data.split import split_dataset
from trainpipe.launch.train_job import train_model
from trainpipe.storage.factory import open_store
from trainpipe.storage.uri import join_uri

pytestmark = pytest.mark.e2e

KUBECONFIG = os.environ.get("KUBECONFIG", "")
IMAGE = os.environ.get("TRAINPIPE_E2E_IMAGE", "")
STORAGE = os.environ.get("TRAINPIPE_E2E_STORAGE", "")

if not (KUBECONFIG and Path(KUBECONFIG).is_file()):
    pytest.skip("KUBECONFIG does not point at a cluster", allow_module_level=True)
if not (IMAGE and STORAGE):
    pytest.skip(
        "set TRAINPIPE_E2E_IMAGE and TRAINPIPE_E2E_STORAGE to run the cluster tests",
        allow_module_level=True,
    )


@pytest.mark.parametrize("backend", ["pytorchjob"])
def test_two_node_job_trains_on_the_cluster(backend: str) -> None:
    run = f"e2e-{int(time.time())}"
    root = join_uri(STORAGE, run)
    config = RunConfig.from_dict(
        {
            "name": run,
            "data": {"source": "builtin:iris"},
            "model": {"kind": "mlp", "hidden": [16]},
            "train": {
                "epochs": 5,
                "batch_size": 16,
                "nnodes": 2,
                "nproc_per_node": 1,
                "backend": backend,
                "timeout_seconds": 900,
            },
            "job": {"image": IMAGE, "cpu": "1", "memory": "1Gi", "cleanup": "always"},
        }
    )
    data = {name: join_uri(root, name) for name in ("dataset", "train", "validation", "test")}
    ingest(config, data["dataset"])
    split_dataset(config, data["dataset"], data["train"], data["validation"], data["test"])
    result = train_model(
        config,
        train_data=data["train"],
        validation_data=data["validation"],
        output=join_uri(root, "model"),
        run_id=run,
    )
    assert result.world_size == 2
    store = open_store(join_uri(root, "model"))
    assert store.exists("model.safetensors")
    assert any(key.startswith("logs/") for key in store.list())
