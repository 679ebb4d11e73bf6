"""``train.strategy: fsdp`` over gloo with 2 CPU ranks: it trains to DDP's weights, it writes
sharded checkpoints, and a checkpoint written by 2 ranks resumes on 2 ranks bit for bit and on
1 rank to the uninterrupted run's weights within float rounding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from training_jobs import WITHOUT_SANITY_CHECKS
from trainpipe.config import load_config
from trainpipe.train.checkpoint import list_checkpoints
from trainpipe.train.sharded_checkpoint import delete_sharded, folder
from trainpipe.train.spec import TrainSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "digits.yaml"
EVERY = 4
"""Checkpoint every 4 steps: the resumes start in the middle of an epoch."""


def _rank(rank: int, world: int, store: str, runs: list[tuple[str, str]], out: str) -> None:
    """One rank of a job: train each ``(name, spec)`` in turn; rank 0 writes the model's
    weights and where it resumed to ``out/name.pt``."""
    from trainpipe.train.distributed import DistContext
    from trainpipe.train.loop import fit

    if world > 1:
        dist.init_process_group(
            "gloo", store=dist.FileStore(store, world), rank=rank, world_size=world
        )
    ctx = DistContext(rank=rank, world_size=world, local_rank=rank, local_world_size=world)
    try:
        for name, spec_json in runs:
            result = fit(TrainSpec.from_json(spec_json), ctx, log=lambda line: None)
            if ctx.is_main:
                weights = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
                kept = {"weights": weights, "resumed_from_step": result.resumed_from_step}
                torch.save(kept, Path(out, f"{name}.pt"))
    finally:
        if world > 1:
            dist.destroy_process_group()


def _job(world: int, runs: list[tuple[str, TrainSpec]], root: Path, tag: str) -> None:
    specs = [(name, spec.to_json()) for name, spec in runs]
    mp.start_processes(
        _rank,
        args=(world, str(root / f"group-{tag}"), specs, str(root)),
        nprocs=world,
        start_method="spawn",
    )


def _result(root: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = torch.load(root / f"{name}.pt", weights_only=True)
    return loaded


@pytest.fixture(scope="module")
def runs(digits_splits: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DDP run and an FSDP run of 2 ranks; the FSDP run's checkpoints cut back to the middle
    of its second epoch (as if killed there) and resumed on 2 ranks and on 1."""
    root = tmp_path_factory.mktemp("fsdp")

    def spec(name: str, *overrides: str, checkpoints: str = "") -> TrainSpec:
        config = load_config(
            CONFIG,
            ["model.dropout=0", "train.epochs=2", "train.num_threads=1",
             *WITHOUT_SANITY_CHECKS, f"train.checkpoint_every_steps={EVERY}",
             "train.keep_checkpoints=100", *overrides],
        )  # fmt: skip
        return TrainSpec(
            config=config,
            train_data=digits_splits["train"],
            validation_data=digits_splits["validation"],
            output=str(root / name),
            checkpoints=checkpoints or str(root / f"{name}-checkpoints"),
        )

    _job(2, [("ddp", spec("ddp")), ("fsdp", spec("fsdp", "train.strategy=fsdp"))], root, "a")
    from trainpipe.storage.factory import open_store

    written = open_store(str(root / "fsdp-checkpoints"))
    steps = list_checkpoints(written)
    per_epoch = steps[-1] // 2
    cut = max(s for s in steps if per_epoch < s < 2 * per_epoch)
    for target in ("again-2", "again-1"):
        shutil.copytree(root / "fsdp-checkpoints", root / f"{target}-checkpoints")
        copy = open_store(str(root / f"{target}-checkpoints"))
        for later in [s for s in steps if s > cut]:
            delete_sharded(copy, later)
    (root / "cut.json").write_text(json.dumps({"cut": cut, "steps": steps}))
    resumed = ["train.strategy=fsdp"]
    _job(2, [("again-2", spec("again-2", *resumed))], root, "b")
    _job(1, [("again-1", spec("again-1", *resumed, "train.nproc_per_node=1"))], root, "c")
    return root


def test_fsdp_trains_to_ddps_weights_and_stores_sharded_checkpoints(runs: Path) -> None:
    ddp, fsdp = _result(runs, "ddp")["weights"], _result(runs, "fsdp")["weights"]
    assert list(fsdp) == list(ddp)
    for name, tensor in ddp.items():
        torch.testing.assert_close(fsdp[name], tensor, rtol=0, atol=1e-5)
    steps = json.loads((runs / "cut.json").read_text())["steps"]
    newest = runs / "fsdp-checkpoints" / folder(steps[-1])
    assert sorted(p.name for p in newest.iterdir()) == [
        ".metadata", "__0_0.distcp", "__1_0.distcp", "state.pt"
    ]  # fmt: skip
    assert not list((runs / "fsdp-checkpoints").glob("*.pt")), "no whole-model checkpoint"


def test_a_two_rank_checkpoint_resumes_on_two_ranks_bit_for_bit_and_on_one(runs: Path) -> None:
    cut = json.loads((runs / "cut.json").read_text())["cut"]
    uninterrupted = _result(runs, "fsdp")["weights"]
    on_two, on_one = _result(runs, "again-2"), _result(runs, "again-1")
    assert on_two["resumed_from_step"] == cut and on_one["resumed_from_step"] == cut
    for name, tensor in uninterrupted.items():
        assert torch.equal(on_two["weights"][name], tensor), name
        torch.testing.assert_close(on_one["weights"][name], tensor, rtol=0, atol=1e-6)
