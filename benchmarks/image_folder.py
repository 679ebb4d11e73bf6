"""Image-folder input: trainpipe's decoding of a class-folder dataset against a plain DataLoader.

A folder of JPEG photos (random crops of the two photographs scikit-learn ships, 96 to 192 pixels
a side, a folder per photo) is read into ``[3, 64, 64]`` pixel rows twice, with the same decode
(Pillow) and the same fit to size (``ImageOps.fit``):

- trainpipe: :func:`trainpipe.data.image_folder.read_image_folder`, which fetches the files with
  threads and decodes them in its own process (ingest decodes into a table; decoding in worker
  processes comes with the streamed DataLoader of training);
- the baseline: what torchvision's ``ImageFolder`` does, a map-style dataset that opens each file
  with Pillow, under a ``torch.utils.data.DataLoader`` with worker processes (torchvision itself
  does not import beside this CPU build of torch).

It prints samples/s of each and their ratio. The issue's target is >= 0.9x of the baseline.

    .venv/bin/python benchmarks/image_folder.py --images 4000 --workers 2
"""

from __future__ import annotations

import argparse
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


def trainpipe_read(root: Path) -> float:
    started = time.perf_counter()
    frame, found = read_image_folder(str(root), image_shape=SHAPE, label="y")
    assert found["files"] == len(frame)
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
        ours = sorted(trainpipe_read(root) for _ in range(args.repeats))
        theirs = sorted(baseline(files, args.workers) for _ in range(args.repeats))
    n = args.images
    ours_rate, theirs_rate = n / ours[len(ours) // 2], n / theirs[len(theirs) // 2]
    print(f"{n:,} JPEG files -> {SHAPE} rows, median of {args.repeats}")
    baseline_name = f"baseline (Pillow dataset, DataLoader, {args.workers} workers)"
    print(f"{baseline_name:50s} {theirs_rate:8.0f} samples/s")
    print(f"{'trainpipe read_image_folder (one process)':50s} {ours_rate:8.0f} samples/s")
    print(f"ratio trainpipe / baseline: x{ours_rate / theirs_rate:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
