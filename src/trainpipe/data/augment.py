"""On-the-fly, seeded data augmentation for training batches.

Augmentations are applied to *training* batches only, never to validation or test data. Every
function takes a batch and a :class:`torch.Generator` and returns a new tensor (the input is never
modified); all randomness is drawn from that generator, on the generator's device, so a caller that
seeds it from ``(seed, step, rank)`` gets the same augmented batch on every run and any hardware.

* Images (each row of ``x`` [batch, C*H*W] is reshaped to ``image_shape = (C, H, W)`` and flattened
  back): :func:`hflip`, :func:`vflip`, :func:`rotate` (with the deterministic :func:`rotate_by`),
  :func:`shift` (with :func:`shift_offsets` and the deterministic :func:`translate`),
  :func:`resized_crop`, :func:`scale`, :func:`color_jitter`.
* Spectrograms (log-mel rows of an audio folder, ``image_shape`` ``[1, bands, frames]``):
  :func:`time_mask` and :func:`freq_mask` (SpecAugment), :func:`pitch_shift` (whole mel bands).
* 1-D signals / audio (each row is a time series): :func:`time_shift`, :func:`time_stretch`.
* Any float data: :func:`gaussian_noise`.
* Text (int64 token-id rows [batch, seq_len], pad id 0 by default): :func:`token_dropout`,
  :func:`token_swap`, :func:`synonym_replace`, with a shipped English synonym table
  (:func:`load_synonyms`, ``synonyms.json`` beside this module) mapped onto a vocabulary by
  :func:`synonym_ids`.
* :func:`build_augmenter` turns the config names in :data:`NAMES` into an :class:`Augmenter` that
  applies them in order.

Parameter errors are :class:`~trainpipe.errors.ConfigError` naming the setting; a batch of the wrong
rank or dtype is a :class:`~trainpipe.errors.DataError`.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import torch
import torch.nn.functional as F

from trainpipe.config.train import AUGMENTATIONS, IMAGE_AUGMENTATIONS, TEXT_AUGMENTATIONS
from trainpipe.data.text import word_index
from trainpipe.errors import ConfigError, DataError

ImageShape = tuple[int, int, int]

NAMES: tuple[str, ...] = AUGMENTATIONS
"""Augmentation names accepted by :func:`build_augmenter` (the ``train.augment`` config list)."""
IMAGE_NAMES: frozenset[str] = IMAGE_AUGMENTATIONS
"""The names in :data:`NAMES` that need ``model.image_shape``."""
TEXT_NAMES: frozenset[str] = TEXT_AUGMENTATIONS
"""The names in :data:`NAMES` that work on token ids (a ``data.text`` column)."""

SYNONYMS_FILE = "synonyms.json"
"""The shipped synonym table, a package-data file of ``trainpipe.data``."""


# --- helpers ----------------------------------------------------------------------------------


def _check_float_batch(x: torch.Tensor, what: str) -> None:
    """A DataError unless ``x`` is a 2-D floating-point tensor."""
    if x.dim() != 2:
        raise DataError(f"{what}: expected a [batch, n_features] tensor, got shape {list(x.shape)}")
    if not x.is_floating_point():
        raise DataError(f"{what}: expected a floating-point tensor, got {x.dtype}")


def _check_tokens(tokens: torch.Tensor, what: str) -> None:
    """A DataError unless ``tokens`` is a 2-D integer tensor."""
    if tokens.dim() != 2:
        raise DataError(
            f"{what}: expected a [batch, seq_len] tensor of token ids, got shape "
            f"{list(tokens.shape)}"
        )
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise DataError(f"{what}: expected an integer tensor of token ids, got {tokens.dtype}")


def _check_range(value: float, low: float, high: float, name: str, *, high_open: bool) -> None:
    """A ConfigError naming ``name`` unless ``low <= value <= high`` (``< high`` if open)."""
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value
        and (value < high if high_open else value <= high)
    )
    if not ok:
        bracket = ")" if high_open else "]"
        raise ConfigError(f"{name} must be in [{low:g}, {high:g}{bracket}, got {value!r}")


def _check_nonneg(value: float, name: str) -> None:
    """A ConfigError naming ``name`` unless ``value`` is a finite number >= 0."""
    _check_range(value, 0.0, math.inf, name, high_open=True)


def _image_shape(image_shape: Sequence[int], setting: str = "model.image_shape") -> ImageShape:
    """``image_shape`` as a ``(C, H, W)`` tuple of positive ints; a ConfigError otherwise."""
    dims = list(image_shape)
    if len(dims) != 3 or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in dims
    ):
        raise ConfigError(
            f"{setting} must be [channels, height, width] of positive ints, got {dims!r}"
        )
    return int(dims[0]), int(dims[1]), int(dims[2])


def _as_images(x: torch.Tensor, image_shape: Sequence[int], what: str) -> torch.Tensor:
    """``x`` [batch, C*H*W] viewed as [batch, C, H, W]; a ConfigError if the sizes disagree."""
    _check_float_batch(x, what)
    c, h, w = _image_shape(image_shape)
    if c * h * w != x.shape[1]:
        raise ConfigError(
            f"model.image_shape {[c, h, w]} holds {c * h * w} values but the batch has "
            f"{x.shape[1]} features; set model.image_shape to match"
        )
    return x.reshape(x.shape[0], c, h, w)


def _uniform(g: torch.Generator, n: int, device: torch.device) -> torch.Tensor:
    """``n`` float64 draws from U[0, 1) on ``g``'s device, moved to ``device``."""
    return torch.rand(n, generator=g, device=g.device, dtype=torch.float64).to(device)


def _uniform_like(g: torch.Generator, shape: Sequence[int], device: torch.device) -> torch.Tensor:
    """float32 draws from U[0, 1) of ``shape`` on ``g``'s device, moved to ``device``."""
    return torch.rand(tuple(shape), generator=g, device=g.device).to(device)


# --- images -----------------------------------------------------------------------------------


def _flip(
    x: torch.Tensor, g: torch.Generator, image_shape: Sequence[int], p: float, dim: int, name: str
) -> torch.Tensor:
    """Flip each image along ``dim`` with probability ``p`` (one draw per row)."""
    _check_range(p, 0.0, 1.0, f"{name} p", high_open=False)
    images = _as_images(x, image_shape, name)
    chosen = _uniform(g, x.shape[0], x.device) < p
    flipped = torch.where(chosen[:, None, None, None], images.flip(dim), images)
    return flipped.reshape(x.shape)


def hflip(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], p: float = 0.5
) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``.

    Args:
        x: Float batch [batch, C*H*W].
        g: Generator for the per-row coin flips.
        image_shape: ``(C, H, W)`` of one row.
        p: Probability of flipping a row, in [0, 1].

    Returns:
        A new [batch, C*H*W] tensor.
    """
    return _flip(x, g, image_shape, p, -1, "hflip")


def vflip(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], p: float = 0.5
) -> torch.Tensor:
    """Mirror each image top-bottom with probability ``p`` (see :func:`hflip`)."""
    return _flip(x, g, image_shape, p, -2, "vflip")


def rotate_by(
    x: torch.Tensor, degrees: torch.Tensor | float, *, image_shape: Sequence[int]
) -> torch.Tensor:
    """Rotate each image about its centre by its own angle; no randomness.

    Positive angles turn the image counter-clockwise as displayed (row 0 at the top), so
    ``rotate_by(x, 90)`` equals ``torch.rot90(image, 1, dims=(-2, -1))`` for square images. Pixels
    are resampled bilinearly (computed in float64, returned in ``x``'s dtype); those that come from
    outside the image are zero. The rotation is rigid in pixel space, so non-square images are
    rotated without shearing.

    Args:
        x: Float batch [batch, C*H*W].
        degrees: One angle per row [batch], or a scalar for every row.
        image_shape: ``(C, H, W)`` of one row.

    Returns:
        A new [batch, C*H*W] tensor.
    """
    images = _as_images(x, image_shape, "rotate")
    batch, _, h, w = images.shape
    angles = torch.as_tensor(degrees, dtype=torch.float64).to(x.device).reshape(-1)
    if angles.numel() == 1:
        angles = angles.expand(batch)
    if angles.numel() != batch:
        raise DataError(f"rotate: expected {batch} angles, one per row, got {angles.numel()}")
    if batch == 0:
        return x.clone()
    radians = torch.deg2rad(angles)
    cos, sin = torch.cos(radians), torch.sin(radians)
    # affine_grid maps each *output* location to the input location it samples, in coordinates
    # normalized to [-1, 1] per axis (x = column, y = row, pointing down). A counter-clockwise turn
    # as displayed samples the input at [[cos, -sin], [sin, cos]] @ (x, y) in centred pixel units;
    # the aspect-ratio factors carry that into normalized units, so the turn is rigid in pixels.
    zeros = torch.zeros_like(cos)
    theta = torch.stack(
        [
            torch.stack([cos, -sin * (h / w), zeros], dim=-1),
            torch.stack([sin * (w / h), cos, zeros], dim=-1),
        ],
        dim=1,
    )
    # Sampling in float64 keeps the float32 result exact to rounding: in float32 the normalize /
    # unnormalize round trip alone moves sample points by ~1e-7 of the width.
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    rotated = F.grid_sample(
        images.double(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return rotated.to(x.dtype).reshape(x.shape)


def rotate(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    image_shape: Sequence[int],
    max_degrees: float = 10,
) -> torch.Tensor:
    """Rotate each image by an angle drawn uniformly from ``[-max_degrees, max_degrees]``.

    See :func:`rotate_by` for the convention; ``max_degrees`` must be in [0, 180].
    """
    _check_range(max_degrees, 0.0, 180.0, "rotate max_degrees", high_open=False)
    _as_images(x, image_shape, "rotate")
    angles = (2 * _uniform(g, x.shape[0], x.device) - 1) * max_degrees
    return rotate_by(x, angles, image_shape=image_shape)


def shift_offsets(g: torch.Generator, batch: int, max_pixels: int) -> torch.Tensor:
    """The ``[batch, 2]`` int64 ``(down, right)`` offsets :func:`shift` draws, on ``g``'s device.

    Each is uniform over the integers in ``[-max_pixels, max_pixels]``. :func:`shift` calls this
    first, so a generator seeded alike gives the offsets a ``shift`` call will use.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 0:
        raise ConfigError(f"shift max_pixels must be an int >= 0, got {max_pixels!r}")
    return torch.randint(
        -max_pixels, max_pixels + 1, (batch, 2), generator=g, device=g.device, dtype=torch.int64
    )


def translate(
    x: torch.Tensor, offsets: torch.Tensor, *, image_shape: Sequence[int]
) -> torch.Tensor:
    """Move each image by whole pixels with zero fill; no randomness.

    Args:
        x: Float batch [batch, C*H*W].
        offsets: [batch, 2] integer ``(down, right)`` offsets: the pixel at ``(r, c)`` lands on
            ``(r + down, c + right)``; pixels moved off the image are dropped.
        image_shape: ``(C, H, W)`` of one row.

    Returns:
        A new [batch, C*H*W] tensor.
    """
    images = _as_images(x, image_shape, "shift")
    batch, _, h, w = images.shape
    offsets = torch.as_tensor(offsets).to(device=x.device, dtype=torch.int64)
    if tuple(offsets.shape) != (batch, 2):
        raise DataError(f"shift: expected offsets of shape [{batch}, 2], got {list(offsets.shape)}")
    src_r = torch.arange(h, device=x.device)[None, :] - offsets[:, :1]  # [batch, H]
    src_c = torch.arange(w, device=x.device)[None, :] - offsets[:, 1:]  # [batch, W]
    valid = ((src_r >= 0) & (src_r < h))[:, None, :, None] & ((src_c >= 0) & (src_c < w))[
        :, None, None, :
    ]
    rows = src_r.clamp(0, h - 1)[:, None, :, None]
    cols = src_c.clamp(0, w - 1)[:, None, None, :]
    b_idx = torch.arange(batch, device=x.device)[:, None, None, None]
    c_idx = torch.arange(images.shape[1], device=x.device)[None, :, None, None]
    moved = images[b_idx, c_idx, rows, cols]  # [batch, C, H, W]
    return torch.where(valid, moved, torch.zeros_like(moved)).reshape(x.shape)


def shift(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], max_pixels: int = 1
) -> torch.Tensor:
    """Translate each image by random whole-pixel offsets (see :func:`shift_offsets`), zero fill."""
    _as_images(x, image_shape, "shift")
    offsets = shift_offsets(g, x.shape[0], max_pixels)
    return translate(x, offsets, image_shape=image_shape)


def _zoom(
    images: torch.Tensor,
    scale_x: torch.Tensor,
    scale_y: torch.Tensor,
    shift_x: torch.Tensor,
    shift_y: torch.Tensor,
) -> torch.Tensor:
    """Resample each image [batch, C, H, W] so that output location ``u`` (normalized to [-1, 1])
    reads input ``scale * u + shift``: a scale below 1 zooms in, above 1 zooms out (zero fill)."""
    zeros = torch.zeros_like(scale_x)
    theta = torch.stack(
        [torch.stack([scale_x, zeros, shift_x], dim=-1),
         torch.stack([zeros, scale_y, shift_y], dim=-1)], dim=1,
    )  # fmt: skip
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(
        images.double(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out.to(images.dtype)


def resized_crop(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    image_shape: Sequence[int],
    scale: tuple[float, float] = (0.6, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Random resized crop: cut a box covering a ``scale`` share of each image's area with a
    width/height ``ratio`` (log-uniform), at a random place, and resize it to the full image.

    With ``scale=(1, 1)`` and ``ratio=(1, 1)`` every image is returned as it was.
    """
    low, high = scale
    _check_range(low, 0.0, 1.0, "resized_crop scale", high_open=False)
    _check_range(high, low, 1.0, "resized_crop scale", high_open=False)
    if not 0 < ratio[0] <= ratio[1]:
        raise ConfigError(f"resized_crop ratio must be 0 < low <= high, got {ratio!r}")
    images = _as_images(x, image_shape, "resized_crop")
    batch = images.shape[0]
    area = low + (high - low) * _uniform(g, batch, x.device)
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * _uniform(g, batch, x.device))
    width = torch.sqrt(area * aspect).clamp(max=1.0)
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    shift_x = (1 - width) * (2 * _uniform(g, batch, x.device) - 1)
    shift_y = (1 - height) * (2 * _uniform(g, batch, x.device) - 1)
    return _zoom(images, width, height, shift_x, shift_y).reshape(x.shape)


def scale(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], max_change: float = 0.15
) -> torch.Tensor:
    """Zoom each image in or out about its centre by a factor drawn uniformly from
    ``[1 - max_change, 1 + max_change]`` (zero fill where it shrinks)."""
    _check_range(max_change, 0.0, 1.0, "scale max_change", high_open=True)
    images = _as_images(x, image_shape, "scale")
    factor = 1 + max_change * (2 * _uniform(g, images.shape[0], x.device) - 1)
    zero = torch.zeros_like(factor)
    return _zoom(images, 1 / factor, 1 / factor, zero, zero).reshape(x.shape)


def color_jitter(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    image_shape: Sequence[int],
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
) -> torch.Tensor:
    """Colour jitter per image: add a brightness offset drawn from ``[-brightness, brightness]``
    (in the rows' units), scale the deviations from the image's mean by a factor from
    ``[1 - contrast, 1 + contrast]``, and, for 3 channels, blend with the image's gray by a
    factor from ``[1 - saturation, 1 + saturation]``."""
    for value, name in ((brightness, "brightness"), (contrast, "contrast"),
                        (saturation, "saturation")):  # fmt: skip
        _check_range(value, 0.0, 1.0, f"color_jitter {name}", high_open=False)
    images = _as_images(x, image_shape, "color_jitter")
    batch = images.shape[0]

    def factor(spread: float) -> torch.Tensor:
        drawn = 1 + spread * (2 * _uniform(g, batch, x.device) - 1)
        return drawn.to(x.dtype)[:, None, None, None]

    shifted = images + (factor(brightness) - 1)
    mean = shifted.mean(dim=(1, 2, 3), keepdim=True)
    out = mean + (shifted - mean) * factor(contrast)
    saturate = factor(saturation)
    if images.shape[1] == 3:
        gray = out.mean(dim=1, keepdim=True)
        out = gray + (out - gray) * saturate
    return out.reshape(x.shape)


def _mask_runs(
    g: torch.Generator, batch: int, length: int, most: int, device: torch.device
) -> torch.Tensor:
    """[batch, length] booleans: one run of 0..``most`` positions per row, at a random start."""
    widths = torch.randint(0, most + 1, (batch, 1), generator=g, device=g.device).to(device)
    starts = (_uniform(g, batch, device)[:, None] * (length - widths + 1)).floor().long()
    positions = torch.arange(length, device=device)[None, :]
    return (positions >= starts) & (positions < starts + widths)


def time_mask(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], max_fraction: float = 0.15
) -> torch.Tensor:
    """SpecAugment time masking for spectrogram rows (``image_shape`` ``[1, bands, frames]``):
    set a run of up to ``max_fraction`` of the frames to the image's mean."""
    _check_range(max_fraction, 0.0, 1.0, "time_mask max_fraction", high_open=False)
    images = _as_images(x, image_shape, "time_mask")
    frames = images.shape[-1]
    masked = _mask_runs(g, images.shape[0], frames, math.floor(max_fraction * frames), x.device)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(masked[:, None, None, :], mean, images).reshape(x.shape)


def freq_mask(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], max_fraction: float = 0.15
) -> torch.Tensor:
    """SpecAugment frequency masking: set a run of up to ``max_fraction`` of the bands (rows of
    each ``[1, bands, frames]`` image) to the image's mean."""
    _check_range(max_fraction, 0.0, 1.0, "freq_mask max_fraction", high_open=False)
    images = _as_images(x, image_shape, "freq_mask")
    bands = images.shape[-2]
    masked = _mask_runs(g, images.shape[0], bands, math.floor(max_fraction * bands), x.device)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(masked[:, None, :, None], mean, images).reshape(x.shape)


def pitch_shift(
    x: torch.Tensor, g: torch.Generator, *, image_shape: Sequence[int], max_bands: int = 2
) -> torch.Tensor:
    """Pitch shift on a log-mel spectrogram: move each image up or down by a whole number of
    mel bands in ``[-max_bands, max_bands]`` (bands moved in from outside take the image's
    lowest value). On the mel scale, a band shift is close to a fixed change of pitch."""
    if isinstance(max_bands, bool) or not isinstance(max_bands, int) or max_bands < 0:
        raise ConfigError(f"pitch_shift max_bands must be an int >= 0, got {max_bands!r}")
    images = _as_images(x, image_shape, "pitch_shift")
    batch, _, bands, _ = images.shape
    steps = torch.randint(-max_bands, max_bands + 1, (batch, 1), generator=g, device=g.device)
    source = torch.arange(bands, device=x.device)[None, :] - steps.to(x.device)  # [batch, bands]
    inside = (source >= 0) & (source < bands)
    index = source.clamp(0, bands - 1)[:, None, :, None].expand_as(images)
    moved = images.gather(2, index)
    floor = images.amin(dim=(1, 2, 3), keepdim=True).expand_as(images)
    return torch.where(inside[:, None, :, None], moved, floor).reshape(x.shape)


# --- any data ---------------------------------------------------------------------------------


def gaussian_noise(x: torch.Tensor, g: torch.Generator, *, std: float = 0.05) -> torch.Tensor:
    """Add independent N(0, ``std``²) noise to every value of a float tensor of any shape."""
    _check_nonneg(std, "noise std")
    if not x.is_floating_point():
        raise DataError(f"noise: expected a floating-point tensor, got {x.dtype}")
    noise = torch.randn(tuple(x.shape), generator=g, device=g.device, dtype=x.dtype)
    return x + std * noise.to(x.device)


# --- 1-D signals ------------------------------------------------------------------------------


def time_shift(x: torch.Tensor, g: torch.Generator, *, max_fraction: float = 0.1) -> torch.Tensor:
    """Roll each row circularly by its own random number of steps.

    The shift is uniform over the integers in ``[-m, m]`` with ``m = floor(max_fraction * length)``;
    values wrap around, so each row keeps exactly its values.
    """
    _check_range(max_fraction, 0.0, 1.0, "time_shift max_fraction", high_open=False)
    _check_float_batch(x, "time_shift")
    batch, length = x.shape
    most = math.floor(max_fraction * length)
    steps = torch.randint(-most, most + 1, (batch, 1), generator=g, device=g.device).to(x.device)
    index = (torch.arange(length, device=x.device)[None, :] - steps) % max(length, 1)
    return x.gather(1, index)


def time_stretch(x: torch.Tensor, g: torch.Generator, *, max_rate: float = 0.1) -> torch.Tensor:
    """Stretch each row in time by a factor drawn uniformly from ``[1 - max_rate, 1 + max_rate]``.

    The row is resampled with linear interpolation (output step ``j`` reads input position
    ``j / factor``), then cropped (factor > 1) or zero-padded at the end (factor < 1) back to the
    original length. ``max_rate=0`` leaves every row unchanged. ``max_rate`` must be in [0, 1).
    """
    _check_range(max_rate, 0.0, 1.0, "time_stretch max_rate", high_open=True)
    _check_float_batch(x, "time_stretch")
    batch, length = x.shape
    factors = 1 + max_rate * (2 * _uniform(g, batch, x.device) - 1)
    if length == 0:
        return x.clone()
    positions = (
        torch.arange(length, device=x.device, dtype=torch.float64)[None, :] / factors[:, None]
    )
    inside = positions <= length - 1
    left = positions.floor().long()
    frac = (positions - left).to(x.dtype)
    left = left.clamp(max=length - 1)
    right = (left + 1).clamp(max=length - 1)
    values = x.gather(1, left) * (1 - frac) + x.gather(1, right) * frac
    return torch.where(inside, values, torch.zeros_like(values))


# --- text -------------------------------------------------------------------------------------


def token_dropout(
    tokens: torch.Tensor, g: torch.Generator, *, p: float = 0.1, pad_id: int = 0
) -> torch.Tensor:
    """Replace each non-pad token by ``pad_id`` with probability ``p``; existing pads stay."""
    _check_range(p, 0.0, 1.0, "token_dropout p", high_open=False)
    _check_tokens(tokens, "token_dropout")
    dropped = (_uniform_like(g, tokens.shape, tokens.device) < p) & (tokens != pad_id)
    return torch.where(dropped, torch.full_like(tokens, pad_id), tokens)


def token_swap(
    tokens: torch.Tensor, g: torch.Generator, *, p: float = 0.1, pad_id: int = 0
) -> torch.Tensor:
    """Swap random pairs of adjacent non-pad tokens; pairs never overlap.

    Each adjacent pair of non-pad tokens is proposed with probability ``p``; a proposal is kept
    unless the pair to its left was proposed too, so kept pairs are disjoint and every row keeps
    exactly its tokens (an interior pair is swapped with probability ``p * (1 - p)``).
    """
    _check_range(p, 0.0, 1.0, "token_swap p", high_open=False)
    _check_tokens(tokens, "token_swap")
    batch, length = tokens.shape
    if length < 2:
        return tokens.clone()
    real = tokens != pad_id
    proposed = (
        (_uniform_like(g, (batch, length - 1), tokens.device) < p) & real[:, :-1] & real[:, 1:]
    )
    kept = proposed.clone()
    kept[:, 1:] &= ~proposed[:, :-1]
    index = torch.arange(length, device=tokens.device).repeat(batch, 1)
    index[:, :-1] += kept.long()
    index[:, 1:] -= kept.long()
    return tokens.gather(1, index)


def synonym_replace(
    tokens: torch.Tensor,
    g: torch.Generator,
    *,
    table: Mapping[int, Sequence[int]],
    p: float = 0.1,
) -> torch.Tensor:
    """Replace each token found in ``table`` by one of its synonyms with probability ``p``.

    Args:
        tokens: Integer token ids [batch, seq_len].
        g: Generator for the replacement coins and the synonym choice.
        table: Token id to its synonym ids (e.g. from :func:`synonym_ids`); entries with no synonym
            are ignored.
        p: Probability of replacing an eligible token, in [0, 1].

    Returns:
        A new tensor; tokens not in ``table`` are never changed.
    """
    _check_range(p, 0.0, 1.0, "synonym_replace p", high_open=False)
    _check_tokens(tokens, "synonym_replace")
    coins = _uniform_like(g, tokens.shape, tokens.device)
    picks = _uniform(g, tokens.numel(), tokens.device).reshape(tokens.shape)
    entries = sorted((int(k), [int(s) for s in v]) for k, v in table.items() if len(v) > 0)
    if not entries or tokens.numel() == 0:
        return tokens.clone()
    width = max(len(syns) for _, syns in entries)
    keys = torch.tensor([k for k, _ in entries], dtype=torch.int64, device=tokens.device)
    counts = torch.tensor([len(s) for _, s in entries], dtype=torch.int64, device=tokens.device)
    synonyms = torch.tensor(
        [s + [s[0]] * (width - len(s)) for _, s in entries], dtype=torch.int64, device=tokens.device
    )
    ids = tokens.long()
    slot = torch.searchsorted(keys, ids).clamp(max=len(entries) - 1)
    found = keys[slot] == ids
    choice = (picks * counts[slot]).long().clamp(max=width - 1)
    choice = torch.minimum(choice, counts[slot] - 1)
    replacement = synonyms[slot, choice].to(tokens.dtype)
    return torch.where(found & (coins < p), replacement, tokens)


def load_synonyms() -> dict[str, list[str]]:
    """The shipped English synonym table: word to 2-4 synonyms, all lower case."""
    text = resources.files("trainpipe.data").joinpath(SYNONYMS_FILE).read_text(encoding="utf-8")
    raw: Any = json.loads(text)
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in raw.items()
    ):
        raise DataError(f"{SYNONYMS_FILE} must map each word to a list of synonym strings")
    return {word: list(syns) for word, syns in raw.items()}


def synonym_ids(vocab: Mapping[str, int]) -> dict[int, list[int]]:
    """Map the shipped synonym table through ``vocab`` (word to token id).

    Words and synonyms missing from ``vocab`` are dropped, as is any synonym with the word's own
    id; words left with no synonym are left out. The result suits :func:`synonym_replace`.
    """
    table: dict[int, list[int]] = {}
    for word, synonyms in load_synonyms().items():
        if word not in vocab:
            continue
        word_id = int(vocab[word])
        ids: list[int] = []
        for synonym in synonyms:
            if synonym in vocab and int(vocab[synonym]) != word_id:
                synonym_id = int(vocab[synonym])
                if synonym_id not in ids:
                    ids.append(synonym_id)
        if ids:
            table[word_id] = ids
    return table


# --- pipeline ---------------------------------------------------------------------------------

_Step = Callable[[torch.Tensor, torch.Generator, "Augmenter"], torch.Tensor]


def _image_step(fn: Callable[..., torch.Tensor]) -> _Step:
    """A pipeline step calling image augmentation ``fn`` with its default parameters."""

    def step(x: torch.Tensor, g: torch.Generator, aug: Augmenter) -> torch.Tensor:
        if aug.image_shape is None:
            raise ConfigError(
                f"augmentation {fn.__name__!r} works on images; set model.image_shape"
            )
        return fn(x, g, image_shape=aug.image_shape)

    return step


def _token_step(fn: Callable[[torch.Tensor, torch.Generator, Augmenter], torch.Tensor]) -> _Step:
    """A pipeline step running text augmentation ``fn`` on the token ids that a feature row
    carries as exact float values (see :mod:`trainpipe.data.text`)."""

    def step(x: torch.Tensor, g: torch.Generator, aug: Augmenter) -> torch.Tensor:
        return fn(x.long(), g, aug).to(x.dtype)

    return step


_STEPS: dict[str, _Step] = {
    "hflip": _image_step(hflip),
    "vflip": _image_step(vflip),
    "rotate": _image_step(rotate),
    "shift": _image_step(shift),
    "resized_crop": _image_step(resized_crop),
    "scale": _image_step(scale),
    "color_jitter": _image_step(color_jitter),
    "time_mask": _image_step(time_mask),
    "freq_mask": _image_step(freq_mask),
    "pitch_shift": _image_step(pitch_shift),
    "noise": lambda x, g, _aug: gaussian_noise(x, g),
    "time_shift": lambda x, g, _aug: time_shift(x, g),
    "time_stretch": lambda x, g, _aug: time_stretch(x, g),
    "token_dropout": _token_step(lambda t, g, _aug: token_dropout(t, g)),
    "token_swap": _token_step(lambda t, g, _aug: token_swap(t, g)),
    "synonyms": _token_step(lambda t, g, aug: synonym_replace(t, g, table=aug.synonyms)),
}


@dataclass(frozen=True)
class Augmenter:
    """An ordered list of augmentations (names from :data:`NAMES`) for training batches.

    Build it with :func:`build_augmenter`, which checks the names. Calling it applies each
    augmentation, with its default parameters, in order; with no names it returns ``x`` itself.
    """

    names: tuple[str, ...] = ()
    image_shape: ImageShape | None = None
    synonyms: Mapping[int, list[int]] = field(default_factory=dict)
    """Token id to synonym ids, for ``synonyms`` (the shipped table mapped on the vocabulary)."""

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Augment the float training batch ``x`` [batch, n_features] with draws from ``g``."""
        for name in self.names:
            x = _STEPS[name](x, g, self)
        return x

    def __bool__(self) -> bool:
        """Whether any augmentation is configured."""
        return bool(self.names)


def build_augmenter(
    names: Sequence[str],
    *,
    image_shape: Sequence[int] | None,
    vocabulary: Sequence[str] | None = None,
    setting: str = "train.augment",
) -> Augmenter:
    """An :class:`Augmenter` for the config list ``names``, checked entry by entry.

    Args:
        names: Augmentation names from :data:`NAMES`, applied in this order.
        image_shape: ``model.image_shape`` ``(C, H, W)``; ``None`` or empty when the rows are not
            images, in which case image augmentations are refused.
        vocabulary: The text column's vocabulary (token id order) when the rows are token ids;
            ``None`` when they are not, in which case text augmentations are refused.
        setting: The config key of ``names``, used in error messages.

    Raises:
        ConfigError: naming the entry, e.g. ``train.augment[1]: unknown augmentation 'blurr'``.
    """
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(f"{setting} must be a list of augmentation names, got {names!r}")
    shape = _image_shape(image_shape) if image_shape else None
    checked: list[str] = []
    for i, name in enumerate(names):
        where = f"{setting}[{i}]"
        if not isinstance(name, str) or name not in _STEPS:
            raise ConfigError(
                f"{where}: unknown augmentation {name!r}; choose one of {', '.join(NAMES)}"
            )
        if name in IMAGE_NAMES and shape is None:
            raise ConfigError(
                f"{where}: augmentation {name!r} works on images; set model.image_shape "
                "(e.g. [1, 8, 8]) or remove it"
            )
        if name in TEXT_NAMES and vocabulary is None:
            raise ConfigError(
                f"{where}: augmentation {name!r} works on token ids; set data.text to the text "
                "column or remove it"
            )
        checked.append(name)
    synonyms = synonym_ids(word_index(vocabulary)) if "synonyms" in checked and vocabulary else {}
    return Augmenter(names=tuple(checked), image_shape=shape, synonyms=synonyms)
