"""Audio folders the tests make (nothing is downloaded): tones of a few pitches with harmonics
and noise, as WAV files of mixed sample rates, durations and channel counts, a folder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PITCHES = {"low": 220.0, "mid": 440.0, "high": 880.0}


def tone(pitch: float, *, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A tone with two harmonics, a random phase and loudness, and white noise."""
    t = np.arange(round(rate * seconds)) / rate
    phase = rng.uniform(0, 2 * np.pi)
    wave = sum(np.sin(2 * np.pi * pitch * k * t + phase) / k for k in (1, 2, 3))
    wave = wave * rng.uniform(0.2, 0.5) + rng.normal(scale=0.05, size=len(t))
    return np.clip(wave, -1, 1).astype(np.float32)


def tone_folder(root: Path, *, per_class: int = 30, seed: int = 0) -> Path:
    """``root/<low|mid|high>/<n>.wav``: 16-bit PCM at 8, 16 or 22.05 kHz, 0.3 to 0.8 s long,
    one file in four in stereo."""
    import soundfile

    rng = np.random.default_rng(seed)
    for name, pitch in PITCHES.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            rate = int(rng.choice([8000, 16000, 22050]))
            wave = tone(pitch, rate=rate, seconds=float(rng.uniform(0.3, 0.8)), rng=rng)
            data = np.stack([wave, wave], axis=1) if n % 4 == 0 else wave
            soundfile.write(folder / f"{n:03d}.wav", data, rate, subtype="PCM_16")
    return root
