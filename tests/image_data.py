"""Image folders the tests make (nothing is downloaded): scikit-learn's 8x8 digits drawn as
32x32 PNG files, a folder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digit_folder(root: Path, *, per_class: int = 1000, mode: str = "L") -> Path:
    """``root/<digit>/<n>.png``: each digit image scaled 4x (nearest) to 32x32, in ``mode``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts: dict[int, int] = {}
    for pixels, target in zip(digits.images, digits.target, strict=True):
        n = counts.get(int(target), 0)
        if n >= per_class:
            continue
        counts[int(target)] = n + 1
        folder = root / str(target)
        folder.mkdir(parents=True, exist_ok=True)
        gray = (np.asarray(pixels) * (255 / 16)).astype(np.uint8)
        image = Image.fromarray(gray, mode="L").resize((32, 32), Image.Resampling.NEAREST)
        image.convert(mode).save(folder / f"{n:04d}.png")
    return root
