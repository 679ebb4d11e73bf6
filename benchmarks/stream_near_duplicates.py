"""The near-duplicate check of a streamed split: its cost beside the split alone, and how well
its sample estimates the leaks.

A generated table (clusters of rows, as real tables have) gets near-copies of 1% of its rows
(noise of 0.001 standard deviations) and is written as a trainpipe dataset in row groups of
65,536 rows. It is split as a stream twice, in paired runs: with ``split.near_duplicates: off``
(the baseline) and with the check on, which samples ``split.near_duplicate_sample_rows``
validation and test rows and searches every train row group for each. The benchmark prints the
seconds of both, their ratio, and the check's estimate of the leaking validation and test rows
against the true count (a row leaks when its copy or original landed in train).

    .venv/bin/python benchmarks/stream_near_duplicates.py                # 1,000,000 rows x 32
    .venv/bin/python benchmarks/stream_near_duplicates.py --rows 4000000 --sample 20000
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from trainpipe.config import RunConfig
from trainpipe.data.dataset import Schema
from trainpipe.data.split_stream import split_streamed


def make_dataset(root: Path, rows: int, dims: int, seed: int) -> tuple[str, int]:
    """The dataset's location and how many near-copies it holds."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(64, dims)) * 2.0
    data = centers[rng.integers(0, len(centers), rows)] + rng.normal(size=(rows, dims))
    copies = rows // 100
    originals = rng.choice(rows, size=copies, replace=False)
    noisy = data[originals] + rng.normal(size=(copies, dims)) * 0.001 * data.std(axis=0)
    features = [f"x{i}" for i in range(dims)]
    frame = pd.DataFrame(np.vstack([data, noisy]).astype(np.float32), columns=features)
    frame["y"] = np.where(frame["x0"] > 0, "a", "b")
    frame["pair"] = -1  # not a feature: which pair a row belongs to, to count the leaks
    frame.loc[originals, "pair"] = np.arange(copies)
    frame.loc[rows:, "pair"] = np.arange(copies)
    root.mkdir(parents=True)
    frame.to_parquet(root / "data.parquet", index=False, row_group_size=65_536)
    schema = Schema(label="y", task="classification", features=features, classes=["a", "b"])
    (root / "schema.json").write_text(json.dumps(schema.to_dict()))
    return str(root), copies


def true_leaks(outputs: tuple[str, str, str]) -> int:
    """Validation and test rows whose pair's other row is in train."""
    pairs = [set(pd.read_parquet(Path(o) / "data.parquet", columns=["pair"])["pair"]) - {-1}
             for o in outputs]  # fmt: skip
    return len(pairs[0] & pairs[1]) + len(pairs[0] & pairs[2])


def estimated_leaks(findings: list[dict]) -> int:
    """The check's estimate: the ``about N of its M`` figures of its finding."""
    near = [f for f in findings if f["check"] == "near_duplicates"]
    if not near:
        return 0
    return sum(
        int(n.replace(",", "")) for n in re.findall(r"about ([\d,]+) of its", near[0]["message"])
    )


def split_once(source: str, root: Path, config: RunConfig) -> tuple[float, list[dict]]:
    outputs = (str(root / "train"), str(root / "validation"), str(root / "test"))
    started = time.perf_counter()
    _, findings = split_streamed(config, source, outputs)
    return time.perf_counter() - started, findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dims", type=int, default=32)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainpipe-bench-") as tmp:
        root = Path(tmp)
        source, copies = make_dataset(root / "data", args.rows, args.dims, args.seed)
        print(f"{args.rows + copies:,} rows x {args.dims} features, {copies:,} near-copies; "
              f"sample {args.sample:,} validation and {args.sample:,} test rows")  # fmt: skip
        settings = {"seed": 7, "data": {"source": "x.csv", "label": "y", "stream_threshold_mb": 0}}
        off = RunConfig.from_dict({**settings, "split": {"near_duplicates": "off"}})
        on = RunConfig.from_dict(
            {**settings, "split": {"near_duplicates": "warn",
                                   "near_duplicate_sample_rows": args.sample}}
        )  # fmt: skip
        baseline, checked = [], []
        findings: list[dict] = []
        for run in range(args.pairs):
            seconds, _ = split_once(source, root / f"off-{run}", off)
            baseline.append(seconds)
            seconds, findings = split_once(source, root / f"on-{run}", on)
            checked.append(seconds)
            print(f"pair {run + 1}: split alone {baseline[-1]:.1f} s, with the check "
                  f"{checked[-1]:.1f} s")  # fmt: skip
        truth = true_leaks((str(root / "on-0" / "train"), str(root / "on-0" / "validation"),
                            str(root / "on-0" / "test")))  # fmt: skip
        estimate = estimated_leaks(findings)
    low, high = statistics.median(baseline), statistics.median(checked)
    print(f"median: split alone {low:.1f} s, with the near-duplicate check {high:.1f} s: "
          f"x{high / low:.2f} the time of the split alone")  # fmt: skip
    print(f"leaking validation and test rows: estimated {estimate:,}, true {truth:,} "
          f"(estimate / true {estimate / max(truth, 1):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
