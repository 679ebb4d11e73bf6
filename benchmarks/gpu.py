"""trainpipe's training loop against a bare PyTorch loop on a GPU, and the transformer's MFU.

Both arms train the zoo's sequence transformer (signals mode: each row a series of ``--length``
steps, one token per step) on the same synthetic table, with the same batch, precision (bf16
autocast by default), AdamW and ``--strategy`` (``ddp``: DistributedDataParallel; ``fsdp``:
``fully_shard``), in the same processes, one after the other, for ``--repeats`` pairs:

- bare: the loop a PyTorch tutorial writes: a seeded permutation, this rank's rows of each
  global batch copied to the device, forward under autocast, cross-entropy, backward, AdamW
  step; a validation pass after each epoch;
- trainpipe: :func:`trainpipe.train.loop.fit` as a training job runs it, with everything on:
  a checkpoint after every epoch, the non-finite and stop guards, gradient clipping, the
  monitor.

Each arm's samples/s is an epoch's training rows over its median epoch time, epochs timed from
end to end after the first (which holds the warm-up) with the device synchronized at each end.
The model FLOPs utilization is trainpipe's rate x tokens per row x 6N (N: the model's
parameters; attention's own FLOPs not counted) over the devices' dense bf16 peak. Targets:
trainpipe >= 0.97x the bare loop's samples/s, MFU >= 40% in bf16.

On a GPU machine (one or several GPUs; ``--nproc`` defaults to every GPU), within 5 minutes:

    .venv/bin/python benchmarks/gpu.py                   # DDP
    .venv/bin/python benchmarks/gpu.py --strategy fsdp

``--device cpu --smoke`` runs a tiny model on the CPU in seconds (a test does, so the script
cannot rot); its figures say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

PEAK_BF16_TFLOPS = {
    "H200": 989.4,
    "H100 PCIe": 756.0,
    "H100": 989.4,
    "GH200": 989.4,
    "A100": 312.0,
    "L40S": 362.1,
    "L4": 121.0,
    "A10G": 70.0,
    "A10": 125.0,
}
"""Dense (no sparsity) bf16 tensor-core peaks from the vendor's data sheets, by a part of the
device name; the first that the name contains counts (``H100 PCIe`` before ``H100``)."""


def peak_flops(device: str, override: float) -> float | None:
    """The device's dense bf16 peak in FLOP/s: ``override`` (TFLOPS) when given, else from
    :data:`PEAK_BF16_TFLOPS` by the CUDA device's name; None where unknown (a CPU)."""
    if override > 0:
        return override * 1e12
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(0)
    for part, tflops in PEAK_BF16_TFLOPS.items():
        if part in name:
            return tflops * 1e12
    return None


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The model, data and loop sizes: the GPU's, or a tiny model's with ``--smoke``."""
    if args.smoke:
        return {"length": 32, "d_model": 32, "layers": 2, "heads": 4, "batch": 16,
                "steps": 6, "epochs": 3}  # fmt: skip
    return {"length": args.length, "d_model": args.d_model, "layers": args.layers,
            "heads": args.heads, "batch": args.batch, "steps": args.steps,
            "epochs": args.epochs}  # fmt: skip


def make_splits(root: Path, size: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """A synthetic table of series (4 classes: the sign pattern of two windows' means plus
    noise), ingested and split as a pipeline run does; returns the config and the split paths."""
    from trainpipe.config import RunConfig
    from trainpipe.data.prepare import prepare_splits

    rng = np.random.default_rng(0)
    rows = int(size["batch"] * size["steps"] / 0.9) + 1  # 90% train
    series = rng.standard_normal((rows, size["length"]), dtype=np.float32)
    half = size["length"] // 2
    label = 2 * (series[:, :half].mean(1) > 0) + (series[:, half:].mean(1) > 0)
    frame = pd.DataFrame(series, columns=[f"t{i:04d}" for i in range(size["length"])])
    frame["y"] = label.astype(np.int64)
    source = root / "series.parquet"
    frame.to_parquet(source)
    config = RunConfig.from_dict(
        {
            "seed": 0,
            "data": {"source": str(source), "label": "y"},
            "split": {"validation": 0.05, "test": 0.05},
            "model": {"kind": "transformer", "sequence_channels": 1, "patch_size": 1,
                      "d_model": size["d_model"], "heads": size["heads"],
                      "layers": size["layers"], "dropout": 0.0},
            "train": {"epochs": size["epochs"], "batch_size": size["batch"],
                      "learning_rate": 3e-4, "nproc_per_node": args.nproc,
                      "strategy": args.strategy, "precision": args.precision,
                      "deterministic": False, "sanity_checks": False, "metrics_port": 0,
                      "num_threads": args.threads},
            "evaluate": {"require_beat_baseline": False},
        }
    )  # fmt: skip
    return {"config": config.to_dict(), **prepare_splits(config, root)}


def _epoch_rate(ends: list[float], rows: int) -> float:
    """Rows per second over the median epoch after the first."""
    spans = [b - a for a, b in itertools.pairwise(ends)]
    return rows / statistics.median(spans)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_loop(spec: Any, ctx: Any, strategy: str) -> float:
    """The bare arm on this rank: samples/s of the whole job."""
    from torch.nn.parallel import DistributedDataParallel

    from trainpipe.models import build_model
    from trainpipe.train.data import load_tensors
    from trainpipe.train.sharding import shard_model

    config = spec.config
    train, val, preprocess, schema = load_tensors(spec)
    torch.manual_seed(config.seed)
    model: nn.Module = build_model(config.model, preprocess.width, len(schema.classes),
                                   task=config.task, classes=schema.classes)  # fmt: skip
    model.to(ctx.device)
    if ctx.distributed:
        # trainpipe's sharding policy (each block, then the rest): the same collectives
        model = shard_model(model) if strategy == "fsdp" else DistributedDataParallel(model)
    cuda = ctx.device.startswith("cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.learning_rate,
                                  fused=cuda and strategy != "fsdp")  # fmt: skip
    autocast = (
        torch.autocast(device_type=ctx.device.split(":")[0], dtype=torch.bfloat16)
        if config.train.precision == "bf16"
        else contextlib.nullcontext()
    )
    x_all = train.x.pin_memory() if cuda else train.x
    batch, per_rank = config.train.batch_size, config.train.batch_size // ctx.world_size
    steps = len(train.x) // batch
    ends = []
    for epoch in range(config.train.epochs):
        model.train()
        order = torch.randperm(len(train.x), generator=torch.Generator().manual_seed(epoch))
        for step in range(steps):
            start = step * batch + ctx.rank * per_rank
            rows = order[start : start + per_rank]
            x = x_all[rows].to(ctx.device, non_blocking=True)
            y = train.y[rows].to(ctx.device, non_blocking=True)
            with autocast:
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad(), autocast:
            mine = torch.arange(ctx.rank, len(val.x), ctx.world_size)
            for chunk in mine.split(1024):
                model(val.x[chunk].to(ctx.device))
        _synchronize(ctx.device)
        ends.append(time.perf_counter())
    return _epoch_rate(ends, steps * batch)


def trainpipe_loop(spec: Any, ctx: Any) -> tuple[float, int]:
    """The trainpipe arm on this rank: samples/s of the whole job, and the model's parameters."""
    from trainpipe.train.loop import fit

    ends: list[float] = []

    def on_epoch(epoch: int, row: dict[str, float]) -> None:
        _synchronize(ctx.device)
        ends.append(time.perf_counter())

    result = fit(spec, ctx, on_epoch=on_epoch, log=lambda line: None)
    parameters = sum(p.numel() for p in result.model.parameters()) if ctx.is_main else 0
    return _epoch_rate(ends, training_rows(spec)), parameters


def training_rows(spec: Any) -> int:
    """The rows of the training split: what one of trainpipe's epochs visits."""
    from trainpipe.data.dataset import read_dataset

    frame, _ = read_dataset(spec.train_data)
    return len(frame)


def _rank(rank: int, world: int, job: dict[str, Any]) -> None:
    """One rank: ``--repeats`` pairs of (bare, trainpipe); rank 0 writes the figures."""
    from trainpipe.config import RunConfig
    from trainpipe.train.distributed import DistContext, process_group_backend
    from trainpipe.train.spec import TrainSpec

    device = f"cuda:{rank}" if job["device"] == "cuda" else "cpu"
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    if world > 1:
        store = dist.FileStore(job["group"], world)
        backend = process_group_backend(device)
        dist.init_process_group(backend, store=store, rank=rank, world_size=world)
    ctx = DistContext(rank=rank, local_rank=rank, world_size=world, local_world_size=world,
                      device=device)  # fmt: skip
    config = RunConfig.from_dict(job["config"])
    try:
        pairs = []
        parameters = 0
        for repeat in range(job["repeats"]):
            out = Path(job["root"], f"trainpipe-{repeat}")
            spec = TrainSpec(config=config, train_data=job["train"],
                             validation_data=job["validation"], output=str(out))  # fmt: skip
            bare = bare_loop(spec, ctx, config.train.strategy)
            ours, parameters = trainpipe_loop(spec, ctx)
            pairs.append({"bare": bare, "trainpipe": ours})
        if ctx.is_main:
            Path(job["root"], "figures.json").write_text(
                json.dumps({"pairs": pairs, "parameters": parameters})
            )
    finally:
        if world > 1:
            dist.destroy_process_group()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and return its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp")
    parser.add_argument("--nproc", type=int, default=0, help="processes (0: every GPU, or 1)")
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--smoke", action="store_true", help="a tiny model, seconds")
    parser.add_argument("--length", type=int, default=512, help="time steps (tokens) per row")
    parser.add_argument("--d-model", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64, help="global batch (rows)")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per epoch")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2, help="pairs of runs")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads per process")
    parser.add_argument("--peak-tflops", type=float, default=0.0,
                        help="the device's dense bf16 peak (default: from its name)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU here; run with --device cpu --smoke")
    if args.nproc == 0:
        args.nproc = torch.cuda.device_count() if args.device == "cuda" else 1
    size = settings(args)
    if size["batch"] % args.nproc:
        parser.error(f"--batch {size['batch']} must be a multiple of --nproc {args.nproc}")

    root = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    job = {**make_splits(root, size, args), "root": str(root), "device": args.device,
           "repeats": args.repeats, "group": str(root / "group")}  # fmt: skip
    started = time.perf_counter()
    if args.nproc == 1:
        _rank(0, 1, job)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        mp.start_processes(_rank, args=(args.nproc, job), nprocs=args.nproc,
                           start_method="spawn")  # fmt: skip
    figures = json.loads(Path(root, "figures.json").read_text())
    return report(figures, size, args, seconds=time.perf_counter() - started)


def report(
    figures: dict[str, Any], size: dict[str, Any], args: argparse.Namespace, *, seconds: float
) -> dict[str, Any]:
    """Print each pair and the ratios; return them."""
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    params = figures["parameters"]
    print(f"{device} x{args.nproc}, {args.strategy}, {args.precision}: transformer of "
          f"{params:,} parameters, {size['layers']} layers x d_model {size['d_model']}, "
          f"{size['length']} tokens per row, global batch {size['batch']}, "
          f"{size['steps']} steps x {size['epochs']} epochs")  # fmt: skip
    ratios = []
    for i, pair in enumerate(figures["pairs"], 1):
        ratio = pair["trainpipe"] / pair["bare"]
        ratios.append(ratio)
        print(f"{i}: bare loop {pair['bare']:>10,.1f} samples/s   trainpipe "
              f"{pair['trainpipe']:>10,.1f} samples/s   x{ratio:.3f}")  # fmt: skip
    ratio = statistics.median(ratios)
    rate = statistics.median(pair["trainpipe"] for pair in figures["pairs"])
    achieved = rate * size["length"] * 6 * params
    peak = peak_flops("cuda" if args.device == "cuda" else "cpu", args.peak_tflops)
    mfu = achieved / (peak * args.nproc) if peak else None
    print(f"samples/s trainpipe / bare loop: median x{ratio:.3f} of "
          f"{[round(r, 3) for r in ratios]} (target >= 0.97)")  # fmt: skip
    shown = f"{mfu:.1%}" if mfu is not None else "n/a (no known bf16 peak: --peak-tflops)"
    print(
        f"model FLOPs utilization (6N per token, {achieved / 1e12:.2f} TFLOP/s): {shown}"
        f"{' (target >= 40% in bf16)' if mfu is not None else ''}; {seconds:.0f} s in all"
    )
    return {"ratio": ratio, "ratios": ratios, "mfu": mfu, "parameters": params, **figures}


if __name__ == "__main__":
    main()
