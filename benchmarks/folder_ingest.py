"""Ingesting an image folder streamed, a chunk of files at a time, against reading it whole.

A folder of ``--images`` JPEG photos (crops of scikit-learn's sample images, as in
``image_folder.py``) is ingested to ``[3, 64, 64]`` rows twice per pair, each run in a fresh
process: with ``data.stream_threshold_mb`` above the decoded table (the baseline: decoded into
one table in memory, then cleaned, checked and written) and with it at 0 (streamed: decoded
1,024 files at a time through the streaming pass, written row group by row group). It prints
each run's seconds and peak resident memory (``VmHWM``, imports included) and the ratios.

    .venv/bin/python benchmarks/folder_ingest.py --images 20000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHAPE = [3, 64, 64]


def child(folder: Path, output: Path, threshold: int) -> dict[str, Any]:
    """One ingest in this (child) process."""
    from trainpipe.config import RunConfig
    from trainpipe.data.ingest import ingest

    config = RunConfig.from_dict({
        "data": {"source": str(folder), "label": "photo", "stream_threshold_mb": threshold},
        "model": {"kind": "cnn", "image_shape": SHAPE},
    })  # fmt: skip
    started = time.perf_counter()
    result = ingest(config, str(output))
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    return {"seconds": seconds, "peak": peak, "mode": result.stats["ingest_mode"]["mode"],
            "rows": result.stats["rows"], "hash": result.schema.data_hash}  # fmt: skip


def measure(folder: Path, root: Path, threshold: int, run: int) -> dict[str, Any]:
    output = root / f"out-{threshold}-{run}"
    command = [sys.executable, __file__, "--child", str(folder), str(output), str(threshold)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, output, threshold = args.child
        print(json.dumps(child(Path(folder), Path(output), int(threshold))))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from image_folder import make_folder

    with tempfile.TemporaryDirectory(prefix="trainpipe-bench-folder-") as tmp:
        root = Path(tmp)
        make_folder(root / "photos", args.images, seed=0)
        decoded = args.images * SHAPE[0] * SHAPE[1] * SHAPE[2] * 8
        print(f"{args.images:,} JPEG files -> {SHAPE} rows: {decoded / 2**30:.2f} GiB decoded")
        memory, streamed = [], []
        for run in range(args.pairs):
            memory.append(measure(root / "photos", root, 1_000_000, run))
            streamed.append(measure(root / "photos", root, 0, run))
            for name, got in (("in memory", memory[-1]), ("streamed", streamed[-1])):
                print(f"pair {run + 1} {name:10s} {got['seconds']:6.1f} s  peak "
                      f"{got['peak'] / 2**30:.2f} GiB  ({got['mode']})")  # fmt: skip
    assert all(m["mode"] == "memory" for m in memory) and all(
        s["mode"] == "stream" for s in streamed
    )
    assert all(m["rows"] == s["rows"] for m, s in zip(memory, streamed, strict=True))
    slow = statistics.median(s["seconds"] for s in streamed) / statistics.median(
        m["seconds"] for m in memory
    )
    peak = max(s["peak"] for s in streamed) / max(m["peak"] for m in memory)
    print(f"streamed / in memory: x{slow:.2f} the seconds (median), x{peak:.2f} the peak memory")


if __name__ == "__main__":
    main()
