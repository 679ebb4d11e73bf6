"""Every collective a training job issues goes to a backend that takes its tensors' device.

NCCL takes CUDA tensors only, and the loop's host values (the epoch's sums, the flags the ranks
agree on, gathered objects) are CPU tensors: a CUDA job whose group were NCCL alone would fail
at its first step. This machine has no GPU, so the collectives are recorded in a real 2-rank job
over gloo (its own checks and the OOM drill's, whose guard reduces the gradients itself) and each
recorded device is checked against the group a CUDA job builds
(:func:`~trainpipe.train.distributed.process_group_backend`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainpipe.train import distributed
from trainpipe.train.distributed import backend_devices, context_from_env, process_group_backend

pytestmark = [pytest.mark.integration]

RECORDED = (
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "reduce_scatter_tensor",
    "broadcast",
    "all_gather_object",
    "broadcast_object_list",
    "barrier",
)
"""The torch.distributed collectives the probe wraps."""
OBJECTS = ("all_gather_object", "broadcast_object_list", "barrier")
"""Collectives without a tensor of the caller's: torch picks their device from the group."""


def _record(seen: list[list[str]]) -> None:
    """Wrap each collective in :data:`RECORDED` to note ``[name, device type]`` of its tensor."""
    for name in RECORDED:
        original = getattr(dist, name)

        def wrapped(*args: Any, _name: str = name, _call: Any = original, **kwargs: Any) -> Any:
            if _name in OBJECTS:
                seen.append([_name, dist.distributed_c10d._get_object_coll_device()])
            else:
                tensor = next(a for a in [*args, *kwargs.values()] if isinstance(a, torch.Tensor))
                seen.append([_name, tensor.device.type])
            return _call(*args, **kwargs)

        setattr(dist, name, wrapped)


def _rank(rank: int, world: int, store: str, spec_json: str, out: str) -> None:
    """One rank: join the group, train twice (plainly, then with the OOM drill), write what
    the collectives were given."""
    from trainpipe.train.distributed import DistContext
    from trainpipe.train.faults import INJECT_OOM_ENV, INJECT_OOM_PHASE_ENV
    from trainpipe.train.loop import fit
    from trainpipe.train.spec import TrainSpec

    dist.init_process_group("gloo", store=dist.FileStore(store, world), rank=rank, world_size=world)
    seen: list[list[str]] = []
    _record(seen)
    ctx = DistContext(rank=rank, world_size=world, local_rank=rank, local_world_size=world)
    try:
        spec = TrainSpec.from_json(spec_json)
        fit(spec, ctx, log=lambda line: None)
        os.environ[INJECT_OOM_ENV], os.environ[INJECT_OOM_PHASE_ENV] = "3", "backward"
        drilled_spec = dataclasses.replace(spec, output=f"{spec.output}-drilled")
        drilled = fit(drilled_spec, ctx, log=lambda line: None)
        assert any(e["type"] == "out_of_memory" for e in drilled.events)
    finally:
        dist.destroy_process_group()
    Path(out, f"rank{rank}.json").write_text(json.dumps(seen))


def test_a_cuda_jobs_group_serves_every_collective_of_the_loop(
    iris_splits: dict[str, str], tmp_path: Path
) -> None:
    from trainpipe.config import RunConfig
    from trainpipe.train.spec import TrainSpec

    config = RunConfig.from_dict(
        {
            "seed": 1,
            "data": {"source": "builtin:iris"},
            "model": {"hidden": [8], "dropout": 0.0},
            "train": {"epochs": 2, "batch_size": 16, "nproc_per_node": 2, "num_threads": 1,
                      "sanity_checks": False, "checkpoint_every_steps": 2},
            "evaluate": {"require_beat_baseline": False},
        }
    )  # fmt: skip
    spec = TrainSpec(
        config=config,
        train_data=iris_splits["train"],
        validation_data=iris_splits["validation"],
        output=str(tmp_path / "model"),
    )
    mp.start_processes(
        _rank,
        args=(2, str(tmp_path / "store"), spec.to_json(), str(tmp_path)),
        nprocs=2,
        start_method="spawn",
    )
    seen = [e for r in range(2) for e in json.loads((tmp_path / f"rank{r}.json").read_text())]
    names = {name for name, _ in seen}
    assert {"all_reduce", "all_gather_object"} <= names, "the loop's collectives were recorded"
    served = backend_devices(process_group_backend("cuda:0"))
    refused = sorted({(name, device) for name, device in seen if device not in served})
    assert not refused, f"a CUDA job's group ({served}) has no backend for {refused}"


def test_a_cuda_job_joins_a_group_with_a_backend_for_each_device(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    joined: dict[str, Any] = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: None)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: joined.update(kwargs))
    monkeypatch.setattr(distributed, "_restart_store", lambda timeout: None)
    for name, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TRAINPIPE_DEVICE", raising=False)
    ctx = context_from_env()
    assert ctx.device == "cuda:1"
    assert backend_devices(joined["backend"]) == {"cpu": "gloo", "cuda": "nccl"}
    assert backend_devices("gloo") == {"cpu": "gloo", "cuda": "gloo"}
    assert backend_devices("nccl") == {"cuda": "nccl"}  # today's bug: no backend for the CPU
