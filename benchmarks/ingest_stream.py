"""Benchmark: streaming ingest against pandas ``read_csv`` (or ``read_parquet``) + ``to_parquet``.

Generates a CSV (or, with ``--format parquet``, a Parquet file in row groups of 100,000 rows) of
``--rows`` rows: ``--cols - 1`` float features (seeded normal values with six
decimals) and an integer label with three classes, about 1 GB for the default two million rows
by fifty columns. It is written in chunks, so generating it needs little memory, and 1% of the
rows are copies of earlier rows (the streaming ingest must drop exactly those). Then, each in a
child process of its own so that peak memory is measured per run:

* the baseline: ``pandas.read_csv`` (``read_parquet``) of the whole file, then
  ``DataFrame.to_parquet``;
* :func:`trainpipe.data.stream.ingest_csv_stream` (``ingest_parquet_stream``), which also
  validates, de-duplicates, computes the statistics and hashes the data.

Each runs ``--repeat`` times, alternating, each time in a fresh process; the fastest run counts
(the machine may be busy with other work) and the highest peak memory. Prints rows/s of each
(input rows over the time of the work, interpreter start-up and imports excluded), the
throughput ratio stream/baseline (above 1.0: the stream is faster), the peak
resident memory of each child (``VmHWM``; imports included: the stream's child imports
trainpipe, the baseline's only pandas), and PASS/FAIL for the stream staying under 2 GiB. Exits
non-zero on FAIL or when the stream dropped the wrong number of duplicates. The temporary
directory with the CSV is deleted at the end.

    .venv/bin/python benchmarks/ingest_stream.py [--rows 2000000] [--cols 50] [--repeat 3]
    .venv/bin/python benchmarks/ingest_stream.py --rows 200000 --repeat 1   # a quick run
    .venv/bin/python benchmarks/ingest_stream.py --format parquet
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LIMIT_BYTES = 2 << 30
"""The streaming ingest's peak resident memory must stay below this (2 GiB)."""
CHUNK_ROWS = 100_000
DUPLICATE_SHARE = 0.01
CLASSES = 3
LABEL = "label"


def generate(path: Path, rows: int, cols: int, seed: int) -> int:
    """Write the benchmark CSV or Parquet file (by its suffix) in chunks; return the number of
    rows that copy an earlier row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(cols - 1)]
    schema = pa.schema([(n, pa.float64()) for n in names] + [(LABEL, pa.int64())])
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    copies = 0
    previous: np.ndarray | None = None
    with path.open("wb") as sink:
        writer: Any
        if path.suffix == ".parquet":
            writer = pq.ParquetWriter(sink, schema)
        else:
            sink.write((",".join([*names, LABEL]) + "\n").encode())
            writer = pacsv.CSVWriter(sink, schema, write_options=options)
        with writer:
            for start in range(0, rows, CHUNK_ROWS):
                n = min(CHUNK_ROWS, rows - start)
                block = np.empty((n, cols))
                block[:, :-1] = np.round(rng.normal(0.0, 10.0, size=(n, cols - 1)), 6)
                block[:, -1] = rng.integers(0, CLASSES, size=n)
                if previous is not None:
                    # copies of rows of the chunk before: duplicates far apart in the file
                    chosen = rng.choice(n, size=int(n * DUPLICATE_SHARE), replace=False)
                    block[chosen] = previous[rng.integers(0, len(previous), size=len(chosen))]
                    copies += len(chosen)
                arrays = [pa.array(block[:, j]) for j in range(cols - 1)]
                arrays.append(pa.array(block[:, -1].astype(np.int64)))
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                previous = block
    return copies


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (VmHWM; getrusage where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def child(mode: str, csv: Path, output: Path, block_size: int) -> dict[str, Any]:
    """Run one measurement in this (child) process and return what it measured."""
    result: dict[str, Any] = {}
    if mode == "baseline":
        import pandas as pd

        start = time.perf_counter()
        frame = pd.read_parquet(csv) if csv.suffix == ".parquet" else pd.read_csv(csv)
        frame.to_parquet(output / "data.parquet", index=False)
        seconds = time.perf_counter() - start
        result["rows_in"] = len(frame)
    else:
        from trainpipe.config import RunConfig
        from trainpipe.data.stream import ingest_csv_stream, ingest_parquet_stream

        config = RunConfig.from_dict(
            {
                "task": "classification",
                "data": {"source": str(csv), "label": LABEL, "drop_duplicates": True},
            }
        )
        start = time.perf_counter()
        if csv.suffix == ".parquet":
            ingest = ingest_parquet_stream(config, csv, str(output))
        else:
            ingest = ingest_csv_stream(config, csv, str(output), block_size=block_size)
        seconds = time.perf_counter() - start
        result["rows_in"] = ingest.stats["rows_in"]
        result["rows"] = ingest.stats["rows"]
        result["duplicates_dropped"] = ingest.stats["duplicates_dropped"]
    result["seconds"] = seconds
    result["peak_rss"] = peak_rss_bytes()
    result["parquet_bytes"] = (output / "data.parquet").stat().st_size
    return result


def measure(mode: str, csv: Path, root: Path, block_size: int) -> dict[str, Any]:
    """Run ``mode`` in a fresh child process; return its measurements."""
    output = Path(tempfile.mkdtemp(prefix=f"out-{mode}-", dir=root))
    command = [sys.executable, __file__, "--child", mode, str(csv), str(output)]
    command += ["--block-size", str(block_size)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(output, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed ({done.returncode}):\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of repeated runs, with the highest peak memory of them all."""
    fastest = dict(min(runs, key=lambda run: run["seconds"]))
    fastest["peak_rss"] = max(run["peak_rss"] for run in runs)
    return fastest


def mib(size: int) -> str:
    """``size`` bytes in MiB, for printing."""
    return f"{size / (1 << 20):,.0f} MiB"


def main() -> None:
    """Generate the data, run both measurements and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cols", type=int, default=50, help="columns, the label included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-size", type=int, default=4 << 20, help="CSV bytes per batch")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each (alternating); the fastest counts"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "CSV", "OUTPUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, csv, output = args.child
        print(json.dumps(child(mode, Path(csv), Path(output), args.block_size)))
        return
    if args.rows < 1 or args.cols < 2 or args.repeat < 1:
        parser.error("--rows and --repeat must be >= 1, --cols >= 2 (features and the label)")
    with tempfile.TemporaryDirectory(prefix="trainpipe-bench-stream-") as tmp:
        root = Path(tmp)
        csv = root / f"data.{args.format}"
        start = time.perf_counter()
        copies = generate(csv, args.rows, args.cols, args.seed)
        print(
            f"data: {args.rows:,} rows x {args.cols} columns, {mib(csv.stat().st_size)} "
            f"{args.format}, "
            f"{copies:,} duplicate rows; generated in {time.perf_counter() - start:.1f} s"
        )
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "stream": []}
        for _ in range(args.repeat):
            for mode, done in runs.items():
                done.append(measure(mode, csv, root, args.block_size))
        base, stream = (best(runs[mode]) for mode in ("baseline", "stream"))
    ok = True
    reader = "read_parquet" if args.format == "parquet" else "read_csv"
    for name, run in ((f"baseline (pandas {reader} + to_parquet)", base), ("stream", stream)):
        rate = run["rows_in"] / run["seconds"]
        print(
            f"{name:42s} {run['seconds']:7.2f} s  {rate:12,.0f} rows/s  "
            f"peak RSS {mib(run['peak_rss']):>10s}  parquet {mib(run['parquet_bytes'])}"
        )
    ratio = base["seconds"] / stream["seconds"]
    print(f"throughput ratio stream/baseline: {ratio:.2f}")
    if stream["duplicates_dropped"] != copies:
        ok = False
        print(f"FAIL: the stream dropped {stream['duplicates_dropped']} duplicates, not {copies}")
    verdict = "PASS" if stream["peak_rss"] < LIMIT_BYTES else "FAIL"
    ok = ok and verdict == "PASS"
    print(f"{verdict}: stream peak RSS {mib(stream['peak_rss'])} (limit {mib(LIMIT_BYTES)})")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
