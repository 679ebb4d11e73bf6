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


def shape_folder(root: Path, *, per_class: int = 200, size: int = 32, seed: int = 0) -> Path:
    """``root/<circle|square|triangle>/<n>.png``: one filled shape per RGB image, of a random
    size, place and colour on a random background, with noise; photographed-like in that the
    class does not sit on fixed pixels (a linear model on pixels does poorly)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for name in ("circle", "square", "triangle"):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 120, 3))
            image = Image.new("RGB", (size, size), background)
            draw = ImageDraw.Draw(image)
            radius = int(rng.integers(size // 6, size // 3))
            cx, cy = (int(v) for v in rng.integers(radius, size - radius, 2))
            colour = tuple(int(v) for v in rng.integers(130, 256, 3))
            box = (cx - radius, cy - radius, cx + radius, cy + radius)
            if name == "circle":
                draw.ellipse(box, fill=colour)
            elif name == "square":
                draw.rectangle(box, fill=colour)
            else:
                draw.polygon([(cx, cy - radius), (cx - radius, cy + radius),
                              (cx + radius, cy + radius)], fill=colour)  # fmt: skip
            pixels = np.asarray(image, dtype=np.float32)
            noisy = np.clip(pixels + rng.normal(scale=12, size=pixels.shape), 0, 255)
            Image.fromarray(noisy.astype(np.uint8)).save(folder / f"{n:04d}.png")
    return root
