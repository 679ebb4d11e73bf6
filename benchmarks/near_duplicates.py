"""Near-duplicate search across splits: the HNSW index against exact brute-force search.

A generated table (clusters of rows, as real tables have) is split 80/20 into train and test, and
1% of the test rows are replaced by near-copies of train rows (noise of 0.001 standard deviations).
Every method looks up each test row's nearest train row through
:func:`trainpipe.data.near_duplicates.nearest_train_rows` or, for the baseline, scikit-learn's
exact brute-force ``NearestNeighbors``. The benchmark prints, for each method: seconds (index
build plus search), the recall@1 of the planted leaks (found at the row they copy, within the
threshold), false alarms among the clean rows, and the speed ratio against the baseline.

    .venv/bin/python benchmarks/near_duplicates.py               # 100,000 rows, 32 features
    .venv/bin/python benchmarks/near_duplicates.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from trainpipe.data.near_duplicates import EXACT_MAX_PAIRS, nearest_train_rows

THRESHOLD = 0.01


def make_table(rows: int, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardized train and test rows and the train row each planted test row copies."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(64, dims)) * 2.0
    data = centers[rng.integers(0, len(centers), rows)] + rng.normal(size=(rows, dims))
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    n_train = int(rows * 0.8)
    train, test = data[:n_train], data[n_train:].copy()
    planted = rng.choice(n_train, size=len(test) // 100, replace=False)
    test[: len(planted)] = train[planted] + rng.normal(size=(len(planted), dims)) * 0.001
    return train.astype(np.float32), test.astype(np.float32), planted


def brute_force(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: exact nearest neighbours by computing every pair (scikit-learn)."""
    search = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(train)
    distance, index = search.kneighbors(test)
    return index[:, 0], distance[:, 0] / np.sqrt(train.shape[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train, test, planted = make_table(args.rows, args.dims, args.seed)
    print(
        f"{args.rows:,} rows x {args.dims} features: {len(train):,} train, {len(test):,} test, "
        f"{len(planted):,} planted near-copies; threshold {THRESHOLD} (RMS, standardized)"
    )
    results: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
    started = time.perf_counter()
    found, distance = brute_force(train, test)
    results["brute force (scikit-learn, exact)"] = (time.perf_counter() - started, found, distance)
    for method in ("exact", "hnsw"):
        started = time.perf_counter()
        nearest = nearest_train_rows(train, test, method=method)
        name = "faiss flat (exact)" if method == "exact" else "faiss HNSW (approximate)"
        results[name] = (time.perf_counter() - started, nearest.train_row, nearest.distance)
    picked = "exact" if len(train) * len(test) <= EXACT_MAX_PAIRS else "hnsw"
    print(f"the split check (method auto) searches {picked} at this size")
    baseline = results["brute force (scikit-learn, exact)"][0]
    n = len(planted)
    for name, (seconds, found, distance) in results.items():
        caught = (found[:n] == planted) & (distance[:n] <= THRESHOLD)
        false_alarms = int((distance[n:] <= THRESHOLD).sum())
        print(
            f"{name:36s} {seconds:7.2f} s  recall@1 of the leaks {caught.mean():.4f}  "
            f"false alarms {false_alarms}  speed vs brute force x{baseline / seconds:.2f}"
        )


if __name__ == "__main__":
    main()
