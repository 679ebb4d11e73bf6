"""Image-folder input: trainpipe's decoding of a class-folder dataset against a plain DataLoader.

A folder of JPEG photos (random crops of the two photographs scikit-learn ships, 96 to 192 pixels
a side, a folder per photo) is read into ``[3, 64, 64]`` pixel rows twice, with the same decode
(Pillow) and the same fit to size (``ImageOps.fit``):

- trainpipe: :func:`trainpipe.data.image_folder.read_image_folder`, which fetches the files with
  threads, a chunk at a time, and decodes each chunk in ``--workers`` processes
  (``data.decode_workers``) while the next is fetched; and, for reference, the same with
  ``decode_workers: 0`` (decoding in the reading process, as before the workers);
- the baseline: what torchvision's ``ImageFolder`` does, a map-style dataset that opens each file
  with Pillow, under a ``torch.utils.data.DataLoader`` with worker processes (torchvision itself
  does not import beside this CPU build of torch).

Each repeat runs the three in turn (paired runs); it prints the median samples/s of each and the
ratios. The issue's target is >= 0.9x of the baseline with the same workers.

    .venv/bin/python benchmarks/image_folder.py --images 4000 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from trainpipe.data.image_folder import IMAGE_SUFFIXES, read_image_folder

SHAPE = [3, 64, 64]


def make_folder(root: Path, images: int, seed: int) -> list[tuple[Path, int]]:
    """``root/<photo>/<n>.jpg``: random square crops of scikit-learn's sample photographs."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos = load_sample_images().images
    files = []
    for n in range(images):
        label = n % len(photos)
        photo = photos[label]
        size = int(rng.integers(96, 193))
        y, x = (int(rng.integers(0, d - size)) for d in photo.shape[:2])
        folder = root / f"photo{label}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n:05d}.jpg"
        Image.fromarray(photo[y : y + size, x : x + size]).save(path, quality=90)
        files.append((path, label))
    return sorted(files)


class PillowFolder(Dataset[tuple[torch.Tensor, int]]):
    """The baseline: one file per item, opened with Pillow in the loader's worker."""

    def __init__(self, files: list[tuple[Path, int]]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, ImageOps

        path, label = self.files[index]
        with Image.open(path) as image:
            fitted = ImageOps.fit(image.convert("RGB"), (SHAPE[2], SHAPE[1]))
        pixels = torch.from_numpy(np.asarray(fitted, dtype=np.float32) / 255.0)
        return pixels.permute(2, 0, 1).reshape(-1), label


def baseline(files: list[tuple[Path, int]], workers: int) -> float:
    loader = DataLoader(PillowFolder(files), batch_size=64, num_workers=workers)
    started = time.perf_counter()
    rows = sum(len(x) for x, _ in loader)
    assert rows == len(files)
    return time.perf_counter() - started


def trainpipe_read(root: Path, workers: int) -> float:
    started = time.perf_counter()
    frame, found = read_image_folder(
        str(root), image_shape=SHAPE, label="y", decode_workers=workers
    )
    assert found["files"] == len(frame) and found["decode_workers"] == workers
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="trainpipe-bench-images-") as tmp:
        root = Path(tmp) / "photos"
        files = make_folder(root, args.images, seed=0)
        assert all(path.suffix in IMAGE_SUFFIXES for path, _ in files)
        ours, theirs, alone = [], [], []
        for _ in range(args.repeats):
            ours.append(trainpipe_read(root, args.workers))
            theirs.append(baseline(files, args.workers))
            alone.append(trainpipe_read(root, 0))
    n = args.images
    rate = {name: n / statistics.median(times)
            for name, times in (("ours", ours), ("theirs", theirs), ("alone", alone))}  # fmt: skip
    print(f"{n:,} JPEG files -> {SHAPE} rows, median of {args.repeats} paired runs")
    rows = [
        (f"baseline (Pillow dataset, DataLoader, {args.workers} workers)", rate["theirs"]),
        (f"trainpipe read_image_folder ({args.workers} decode workers)", rate["ours"]),
        ("trainpipe read_image_folder (decoding in-process)", rate["alone"]),
    ]
    for name, value in rows:
        print(f"{name:55s} {value:8.0f} samples/s")
    print(f"ratio trainpipe / baseline, same workers: x{rate['ours'] / rate['theirs']:.2f} "
          f"(target >= 0.9); in-process: x{rate['alone'] / rate['theirs']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
