"""Augmentations for images and spectrograms read from files: random resized crop, scaling,
colour jitter, and SpecAugment-style time and frequency masks and pitch shift. Each is seeded,
leaves its input alone, and does what its name says."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from trainpipe.data.augment import (
    build_augmenter,
    color_jitter,
    freq_mask,
    pitch_shift,
    resized_crop,
    scale,
    time_mask,
)
from trainpipe.errors import ConfigError

pytestmark = pytest.mark.unit

RGB = [3, 16, 16]
SPECTROGRAM = [1, 16, 48]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(shape: list[int], rows: int = 8, seed: int = 0) -> torch.Tensor:
    c, h, w = shape
    return torch.randn(rows, c * h * w, generator=gen(seed))


CASES: dict[str, tuple[Callable[..., torch.Tensor], list[int]]] = {
    "resized_crop": (resized_crop, RGB),
    "scale": (scale, RGB),
    "color_jitter": (color_jitter, RGB),
    "time_mask": (time_mask, SPECTROGRAM),
    "freq_mask": (freq_mask, SPECTROGRAM),
    "pitch_shift": (pitch_shift, SPECTROGRAM),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_seeded_and_the_input_is_left_alone(name: str) -> None:
    fn, shape = CASES[name]
    x = batch(shape)
    before = x.clone()
    first, again = fn(x, gen(1), image_shape=shape), fn(x, gen(1), image_shape=shape)
    other = fn(x, gen(2), image_shape=shape)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == x.shape and torch.equal(x, before)
    assert build_augmenter([name], image_shape=shape)(x, gen(1)).shape == x.shape


def test_a_full_crop_at_the_original_aspect_is_the_identity() -> None:
    x = batch(RGB)
    same = resized_crop(x, gen(0), image_shape=RGB, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, x, rtol=0, atol=1e-5)


def test_a_crop_zooms_in_so_a_corner_dot_can_leave_the_frame() -> None:
    image = torch.zeros(64, 1, 16, 16)
    image[:, :, 0, 0] = 1.0  # a dot in the top-left corner of every image
    cropped = resized_crop(image.reshape(64, -1), gen(3), image_shape=[1, 16, 16],
                           scale=(0.3, 0.5)).reshape(64, 16, 16)  # fmt: skip
    kept = cropped.flatten(1).amax(dim=1) > 0.05
    assert 0 < int(kept.sum()) < 64  # some crops keep the corner, most cut it away


def test_scaling_by_one_is_the_identity_and_shrinking_leaves_a_border() -> None:
    x = batch(RGB)
    torch.testing.assert_close(scale(x, gen(0), image_shape=RGB, max_change=0.0), x, atol=1e-5,
                               rtol=0)  # fmt: skip
    ones = torch.ones(32, 16 * 16)
    scaled = scale(ones, gen(0), image_shape=[1, 16, 16], max_change=0.5).reshape(32, 16, 16)
    assert (scaled[:, 0, 0] < 1).any()  # a shrunk image has a zero border


def test_color_jitter_keeps_a_gray_image_gray_and_moves_brightness() -> None:
    gray = torch.full((16, 3, 8, 8), 0.5)
    gray[:, :, :4] = 0.2
    out = color_jitter(gray.reshape(16, -1), gen(0), image_shape=[3, 8, 8]).reshape(16, 3, 8, 8)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])
    assert out.mean(dim=(1, 2, 3)).std() > 0.01  # brightness differs from image to image


def test_time_and_frequency_masks_cover_one_run_of_frames_or_bands() -> None:
    x = batch(SPECTROGRAM, rows=32)
    images = x.reshape(32, 16, 48)
    timed = time_mask(x, gen(0), image_shape=SPECTROGRAM, max_fraction=0.25).reshape(32, 16, 48)
    changed_frames = (timed != images).any(dim=1)  # [rows, frames]
    assert changed_frames.sum(dim=1).max() <= 12 and changed_frames.any()
    for row in changed_frames:  # one contiguous run
        hits = torch.nonzero(row).flatten()
        if len(hits):
            assert hits[-1] - hits[0] + 1 == len(hits)
    banded = freq_mask(x, gen(0), image_shape=SPECTROGRAM, max_fraction=0.25).reshape(32, 16, 48)
    changed_bands = (banded != images).any(dim=2)
    assert changed_bands.sum(dim=1).max() <= 4 and changed_bands.any()


def test_pitch_shift_moves_a_tone_by_whole_bands() -> None:
    spectrogram = torch.zeros(16, 1, 16, 48)
    spectrogram[:, :, 7] = 5.0  # one loud band
    shifted = pitch_shift(spectrogram.reshape(16, -1), gen(0), image_shape=SPECTROGRAM,
                          max_bands=3).reshape(16, 16, 48)  # fmt: skip
    bands = shifted.mean(dim=2).argmax(dim=1)
    assert set(bands.tolist()) <= set(range(4, 11)) and len(set(bands.tolist())) > 1


def test_bad_parameters_name_the_augmentation() -> None:
    with pytest.raises(ConfigError, match="resized_crop scale"):
        resized_crop(batch(RGB), gen(0), image_shape=RGB, scale=(0.0, 2.0))
    with pytest.raises(ConfigError, match=r"train\.augment\[0\]: augmentation 'time_mask' works"):
        build_augmenter(["time_mask"], image_shape=None)
