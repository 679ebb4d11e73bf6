"""Audio kept as WAV files, a folder per class, read into the table every later stage trains on.

``data.source: clips/`` (or ``s3://bucket/clips/``) with ``clips/dog/*.wav`` and
``clips/cat/*.wav`` is detected as an audio folder; the label is the subfolder's name
(:mod:`trainpipe.data.class_folders` lists and validates the folders). Each file is decoded
with soundfile (libsndfile), mixed down to mono, resampled to ``data.audio.sample_rate``
(``scipy.signal.resample_poly``), cut or zero-padded to ``data.audio.seconds`` from its start,
and becomes one row: its log-mel spectrogram (``mel_<band>_<frame>``, 25 ms Hann windows every
10 ms, ``data.audio.n_mels`` bands; for ``model.kind: cnn1d`` or ``cnn`` with
``model.image_shape: [1, n_mels, frames]``) or its samples (``sample_<i>``).

A file whose data chunk is shorter than its header declares (a truncated download or copy) is
refused, naming it, as is any file libsndfile cannot open; the statistics list the files per
class, their durations, sample rates and channels, and how many were resampled, cut and padded.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from trainpipe.config.data import AudioConfig
from trainpipe.data.class_folders import (
    FolderReport,
    has_class_folders,
    read_class_folders,
    spread,
)
from trainpipe.errors import DataError

__all__ = [
    "AUDIO_SUFFIXES",
    "audio_columns",
    "audio_shape",
    "audio_statistics",
    "decode_audio",
    "is_audio_folder",
    "log_mel",
    "read_audio_folder",
]

AUDIO_SUFFIXES = frozenset({".wav"})
WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010


def is_audio_folder(source: str) -> bool:
    """True for a local folder or object-store prefix whose visible subfolders hold WAV
    files."""
    return has_class_folders(source, AUDIO_SUFFIXES)


def _window(audio: AudioConfig) -> tuple[int, int]:
    return round(audio.sample_rate * WINDOW_SECONDS), round(audio.sample_rate * HOP_SECONDS)


def audio_shape(audio: AudioConfig) -> list[int]:
    """The shape of one row: ``[1, n_mels, frames]`` for log-mel, ``[samples]`` for waveform."""
    samples = round(audio.sample_rate * audio.seconds)
    if audio.features == "waveform":
        return [samples]
    window, hop = _window(audio)
    return [1, audio.n_mels, 1 + (samples - window) // hop]


def audio_columns(audio: AudioConfig) -> list[str]:
    """The column names of one row, in the order of :func:`audio_shape`."""
    shape = audio_shape(audio)
    if audio.features == "waveform":
        return [f"sample_{i}" for i in range(shape[0])]
    return [f"mel_{m}_{t}" for m in range(shape[1]) for t in range(shape[2])]


def _mel_filters(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular filters ``[n_mels, n_fft // 2 + 1]`` evenly spaced on the HTK mel scale."""
    top = 2595.0 * math.log10(1.0 + (rate / 2) / 700.0)
    hz = 700.0 * (10.0 ** (np.linspace(0.0, top, n_mels + 2) / 2595.0) - 1.0)
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    low, centre, high = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bins - low) / np.maximum(centre - low, 1e-9)
    falling = (high - bins) / np.maximum(high - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(samples: np.ndarray, audio: AudioConfig) -> np.ndarray:
    """The log-mel spectrogram ``[n_mels, frames]`` of a clip at ``audio.sample_rate``."""
    window, hop = _window(audio)
    frames = np.lib.stride_tricks.sliding_window_view(samples, window)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(window), axis=1)) ** 2
    mel = power @ _mel_filters(audio.sample_rate, window, audio.n_mels).T
    return np.log(mel + 1e-6).T.astype(np.float32)


def _truncation(data: bytes) -> str | None:
    """Why a RIFF/WAVE file is truncated (its data chunk holds fewer bytes than declared)."""
    with io.BytesIO(data) as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while chunk := handle.read(8):
            if len(chunk) < 8:
                return "ends inside a chunk header"
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                held = len(handle.read(size))
                if held < size:
                    return f"its data chunk declares {size} bytes but holds {held}"
                return None
            handle.seek(size + (size & 1), 1)
    return "it has no data chunk"


def decode_audio(data: bytes, path: str, audio: AudioConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """One WAV file's bytes as a row of features (see the module doc) and what the file held.

    Raises:
        DataError: the file is truncated or does not decode (naming ``path`` and why).
    """
    import soundfile
    from scipy.signal import resample_poly

    truncated = _truncation(data)
    if truncated:
        raise DataError(f"{path} is a truncated WAV file ({truncated})")
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path} does not decode as audio ({exc})") from exc
    info = {"seconds": len(samples) / rate, "sample_rate": rate, "channels": samples.shape[1]}
    mono = samples.mean(axis=1)
    if rate != audio.sample_rate:
        common = math.gcd(rate, audio.sample_rate)
        mono = resample_poly(mono, audio.sample_rate // common, rate // common)
    target = round(audio.sample_rate * audio.seconds)
    info["cut"], info["padded"] = len(mono) > target, len(mono) < target
    clip = np.zeros(target, dtype=np.float32)
    clip[: min(target, len(mono))] = mono[:target]
    row = clip if audio.features == "waveform" else log_mel(clip, audio).ravel()
    return row, info


def read_audio_folder(
    source: str,
    *,
    audio: AudioConfig,
    label: str,
    bad_files: str = "fail",
    decode_workers: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Decode every WAV file of ``source``'s class folders into one row; return the table and
    the statistics' ``audio`` entry. ``decode_workers``: ``data.decode_workers``
    (:func:`~trainpipe.data.class_folders.decode_workers`).

    Raises:
        DataError: a class folder has no WAV files, or (``bad_files: fail``) a file is
            truncated or does not decode; the message names it.
    """
    frame, report = read_class_folders(
        source,
        suffixes=AUDIO_SUFFIXES,
        kind="audio",
        decode=partial(decode_audio, audio=audio),
        columns=audio_columns(audio),
        label=label,
        bad_files=bad_files,
        workers=decode_workers,
    )
    return frame, audio_statistics(report, audio)


def audio_statistics(report: FolderReport, audio: AudioConfig) -> dict[str, Any]:
    """The statistics' ``audio`` entry: the folder's counts, durations, rates and channels, and
    how many clips were resampled, cut and padded."""
    found = report.decoded
    return {
        **report.to_dict(),
        "features": audio.features,
        "shape": audio_shape(audio),
        "seconds": spread([info["seconds"] for info in found]),
        "sample_rates": dict(Counter(str(info["sample_rate"]) for info in found)),
        "channels": dict(Counter(str(info["channels"]) for info in found)),
        "resampled": sum(info["sample_rate"] != audio.sample_rate for info in found),
        "cut": sum(info["cut"] for info in found),
        "padded": sum(info["padded"] for info in found),
    }
