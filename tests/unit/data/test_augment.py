"""Unit tests for trainpipe.data.augment: seeded image, signal and text augmentations, the shipped
synonym table, and the config-driven Augmenter pipeline."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from trainpipe.data.augment import (
    IMAGE_NAMES,
    NAMES,
    TEXT_NAMES,
    Augmenter,
    build_augmenter,
    gaussian_noise,
    hflip,
    load_synonyms,
    rotate,
    rotate_by,
    shift,
    shift_offsets,
    synonym_ids,
    synonym_replace,
    time_shift,
    time_stretch,
    token_dropout,
    token_swap,
    translate,
    vflip,
)
from trainpipe.data.text import encode, fit_vocabulary
from trainpipe.errors import ConfigError, DataError

pytestmark = pytest.mark.unit

DIGITS = [1, 8, 8]


def gen(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def images(batch: int = 16, shape: list[int] = DIGITS, seed: int = 0) -> torch.Tensor:
    """A float32 batch of random flattened images."""
    c, h, w = shape
    return torch.randn(batch, c * h * w, generator=gen(seed))


def token_batch(seed: int = 0) -> torch.Tensor:
    """int64 token ids [32, 20] in 1..49, each row padded (0) after a random length."""
    g = gen(seed)
    tokens = torch.randint(1, 50, (32, 20), generator=g)
    lengths = torch.randint(2, 21, (32, 1), generator=g)
    return torch.where(torch.arange(20)[None, :] < lengths, tokens, torch.zeros_like(tokens))


AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "hflip": lambda x, g: hflip(x, g, image_shape=DIGITS),
    "vflip": lambda x, g: vflip(x, g, image_shape=DIGITS),
    "rotate": lambda x, g: rotate(x, g, image_shape=DIGITS, max_degrees=30),
    "shift": lambda x, g: shift(x, g, image_shape=DIGITS, max_pixels=2),
    "noise": lambda x, g: gaussian_noise(x, g),
    "time_shift": lambda x, g: time_shift(x, g, max_fraction=0.3),
    "time_stretch": lambda x, g: time_stretch(x, g, max_rate=0.3),
}


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_same_seed_same_result_other_seed_differs(name: str) -> None:
    fn = AUGMENTATIONS[name]
    x = images()
    before = x.clone()
    first, again, other = fn(x, gen(1)), fn(x, gen(1)), fn(x, gen(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.shape == x.shape and first.dtype == torch.float32
    assert torch.equal(x, before), "the input batch must not be modified"


@pytest.mark.parametrize(
    "fn",
    [
        lambda t, g: token_dropout(t, g, p=0.3),
        lambda t, g: token_swap(t, g, p=0.3),
        lambda t, g: synonym_replace(t, g, table={k: [k + 100, k + 200] for k in range(1, 50)}),
    ],
    ids=["token_dropout", "token_swap", "synonym_replace"],
)
def test_text_augmentations_are_seeded(
    fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
) -> None:
    tokens = token_batch()
    assert torch.equal(fn(tokens, gen(1)), fn(tokens, gen(1)))
    assert not torch.equal(fn(tokens, gen(1)), fn(tokens, gen(2)))


# --- flips ------------------------------------------------------------------------------------


def test_hflip_flips_asymmetric_image_exactly_and_twice_is_identity() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])  # [[1, 2, 3], [4, 5, 6]]
    flipped = hflip(x, gen(0), image_shape=[1, 2, 3], p=1.0)
    assert torch.equal(flipped, torch.tensor([[3.0, 2.0, 1.0, 6.0, 5.0, 4.0]]))
    batch = images(8, [3, 5, 7])
    twice = hflip(hflip(batch, gen(0), image_shape=[3, 5, 7], p=1.0), gen(1), image_shape=[3, 5, 7])
    assert not torch.equal(twice, batch)  # the second call used p=0.5: some rows flipped once
    twice = hflip(
        hflip(batch, gen(0), image_shape=[3, 5, 7], p=1.0), gen(1), image_shape=[3, 5, 7], p=1.0
    )
    assert torch.equal(twice, batch)


def test_vflip_flips_rows_and_p_zero_is_identity() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    assert torch.equal(
        vflip(x, gen(0), image_shape=[1, 2, 3], p=1.0),
        torch.tensor([[4.0, 5.0, 6.0, 1.0, 2.0, 3.0]]),
    )
    batch = images()
    assert torch.equal(vflip(batch, gen(0), image_shape=DIGITS, p=0.0), batch)


def test_flip_p_half_flips_some_rows_whole() -> None:
    batch = images(64)
    out = hflip(batch, gen(3), image_shape=DIGITS).reshape(64, 1, 8, 8)
    imgs = batch.reshape(64, 1, 8, 8)
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, imgs, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, imgs, strict=True)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))
    assert 10 < sum(flipped) < 54


# --- rotate -----------------------------------------------------------------------------------


def test_rotate_by_zero_is_identity() -> None:
    batch = images(8, [3, 6, 10])
    out = rotate_by(batch, torch.zeros(8), image_shape=[3, 6, 10])
    assert torch.allclose(out, batch, atol=1e-6, rtol=0)
    out = rotate(batch, gen(0), image_shape=[3, 6, 10], max_degrees=0)
    assert torch.allclose(out, batch, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("degrees", "k"), [(90.0, 1), (-90.0, -1), (180.0, 2)])
def test_rotate_by_right_angles_matches_rot90(degrees: float, k: int) -> None:
    batch = images(4, [2, 7, 7])
    out = rotate_by(batch, degrees, image_shape=[2, 7, 7]).reshape(4, 2, 7, 7)
    expected = torch.rot90(batch.reshape(4, 2, 7, 7), k, dims=(-2, -1))
    assert torch.allclose(out, expected, atol=1e-5, rtol=0)


def test_rotate_draws_angles_within_bounds() -> None:
    # One lit pixel one step right of the centre of a 9x9 image moves along a circle of radius 1:
    # its new position's angle tells the drawn rotation, which must stay within max_degrees.
    x = torch.zeros(200, 81)
    x[:, 4 * 9 + 5] = 1.0
    out = rotate(x, gen(0), image_shape=[1, 9, 9], max_degrees=20).reshape(200, 9, 9)
    rows, cols = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
    mass = out.sum(dim=(1, 2))
    dy = (out * (rows - 4)).sum(dim=(1, 2)) / mass
    dx = (out * (cols - 4)).sum(dim=(1, 2)) / mass
    angles = torch.rad2deg(torch.atan2(-dy, dx))  # counter-clockwise as displayed
    assert angles.abs().max() <= 20.5
    assert angles.min() < -10 and angles.max() > 10


# --- shift ------------------------------------------------------------------------------------


def test_shift_moves_a_lit_pixel_by_the_drawn_offset() -> None:
    batch, h, w = 50, 9, 11
    x = torch.zeros(batch, h * w)
    x[:, 4 * w + 5] = 1.0
    offsets = shift_offsets(gen(7), batch, 3)
    out = shift(x, gen(7), image_shape=[1, h, w], max_pixels=3).reshape(batch, h, w)
    assert offsets.abs().max() <= 3 and len({tuple(o) for o in offsets.tolist()}) > 5
    for image, (down, right) in zip(out, offsets.tolist(), strict=True):
        expected = torch.zeros(h, w)
        expected[4 + down, 5 + right] = 1.0
        assert torch.equal(image, expected)


def test_translate_fills_with_zeros_and_drops_pixels_moved_off() -> None:
    x = torch.arange(1.0, 7.0).reshape(1, 6)  # [[1, 2, 3], [4, 5, 6]]
    out = translate(x, torch.tensor([[1, -1]]), image_shape=[1, 2, 3])
    assert torch.equal(out, torch.tensor([[0.0, 0.0, 0.0, 2.0, 3.0, 0.0]]))
    two_channels = torch.arange(1.0, 9.0).reshape(1, 8)  # [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    out = translate(two_channels, torch.tensor([[0, 1]]), image_shape=[2, 2, 2])
    assert torch.equal(out, torch.tensor([[0.0, 1.0, 0.0, 3.0, 0.0, 5.0, 0.0, 7.0]]))


# --- noise ------------------------------------------------------------------------------------


def test_noise_has_the_requested_std() -> None:
    x = torch.full((100, 100), 3.0)
    noise = gaussian_noise(x, gen(0), std=0.2) - x
    assert abs(noise.std().item() - 0.2) < 0.02
    assert abs(noise.mean().item()) < 0.02
    assert torch.equal(gaussian_noise(x, gen(0), std=0.0), x)
    three_d = torch.zeros(4, 5, 6)
    assert gaussian_noise(three_d, gen(0)).shape == three_d.shape


# --- signals ----------------------------------------------------------------------------------


def test_time_shift_preserves_each_rows_values() -> None:
    x = torch.randn(32, 50, generator=gen(0))
    out = time_shift(x, gen(1), max_fraction=0.2)
    assert torch.equal(out.sort(dim=1).values, x.sort(dim=1).values)
    assert not torch.equal(out, x)
    for row_in, row_out in zip(x, out, strict=True):  # a circular roll by at most 10 steps
        assert any(torch.equal(torch.roll(row_in, k), row_out) for k in range(-10, 11))
    assert torch.equal(time_shift(x, gen(1), max_fraction=0.0), x)


def test_time_stretch_keeps_length_and_rate_zero_is_identity() -> None:
    x = torch.randn(16, 40, generator=gen(0))
    out = time_stretch(x, gen(1), max_rate=0.2)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)
    assert torch.equal(time_stretch(x, gen(1), max_rate=0.0), x)


def test_time_stretch_interpolates_a_ramp_linearly() -> None:
    ramp = torch.arange(100.0).repeat(8, 1)
    out = time_stretch(ramp, gen(2), max_rate=0.3)
    assert torch.allclose(out[:, 0], torch.zeros(8))
    for row in out:
        # A stretched ramp stays a ramp with slope 1/factor until any zero padding at its end.
        valid = row[: int((row > 0).nonzero().max()) + 1]
        slope = valid[1:] - valid[:-1]
        assert torch.allclose(slope, slope[0].expand_as(slope), atol=1e-4)
        assert 1 / 1.3 - 1e-4 <= slope[0] <= 1 / 0.7 + 1e-4


# --- text -------------------------------------------------------------------------------------


def test_token_dropout_only_pads_dropped_positions() -> None:
    tokens = token_batch()
    out = token_dropout(tokens, gen(1), p=0.3)
    changed = out != tokens
    assert changed.any()
    assert torch.all(out[changed] == 0), "a changed token must become the pad id"
    assert torch.all(out[tokens == 0] == 0), "existing pads must stay pads"
    dropped = changed.sum() / (tokens != 0).sum()
    assert 0.2 < dropped.item() < 0.4
    assert torch.equal(token_dropout(tokens, gen(1), p=0.0), tokens)


def test_token_dropout_custom_pad_id() -> None:
    tokens = torch.tensor([[5, 6, 7, 99, 99]])
    out = token_dropout(tokens, gen(0), p=1.0, pad_id=99)
    assert torch.equal(out, torch.full_like(tokens, 99))


def test_token_swap_keeps_the_multiset_and_swaps_only_adjacent_non_pads() -> None:
    tokens = token_batch()
    out = token_swap(tokens, gen(1), p=0.4)
    assert torch.equal(out.sort(dim=1).values, tokens.sort(dim=1).values)
    assert torch.equal(out == 0, tokens == 0), "pads must stay where they are"
    assert not torch.equal(out, tokens)
    for row_in, row_out in zip(tokens.tolist(), out.tolist(), strict=True):
        i = 0
        while i < len(row_in):
            if row_in[i] == row_out[i]:
                i += 1
                continue
            assert row_out[i] == row_in[i + 1] and row_out[i + 1] == row_in[i]
            i += 2


def test_synonym_replace_substitutes_only_table_tokens_with_their_synonyms() -> None:
    table = {3: [30, 31], 4: [40], 5: []}
    tokens = torch.tensor([[3, 4, 5, 6, 0, 3, 3, 4]] * 50)
    out = synonym_replace(tokens, gen(0), table=table, p=0.5)
    for before, after in zip(tokens.flatten().tolist(), out.flatten().tolist(), strict=True):
        if before != after:
            assert after in table[before]
    assert torch.equal(out[:, 2:5], tokens[:, 2:5])
    assert set(out[tokens == 3].tolist()) == {3, 30, 31}
    assert set(out[tokens == 4].tolist()) == {4, 40}
    replaced = synonym_replace(tokens, gen(0), table=table, p=1.0)
    assert not torch.any(replaced == 3) and not torch.any(replaced == 4)
    assert torch.equal(synonym_replace(tokens, gen(0), table={}, p=1.0), tokens)


def test_shipped_synonym_table_loads_and_maps_through_a_vocabulary() -> None:
    table = load_synonyms()
    assert len(table) >= 50
    assert all(2 <= len(syns) <= 4 and word not in syns for word, syns in table.items())
    words = ["<pad>", "big", "large", "huge", "fast", "quick", "unrelated"]
    vocab = {word: i for i, word in enumerate(words)}
    ids = synonym_ids(vocab)
    assert ids[vocab["big"]] == [vocab["large"], vocab["huge"]]
    assert ids[vocab["fast"]] == [vocab["quick"]]
    assert vocab["unrelated"] not in ids and vocab["<pad>"] not in ids
    tokens = torch.tensor([[vocab["big"], vocab["fast"], vocab["unrelated"], 0]])
    out = synonym_replace(tokens, gen(0), table=ids, p=1.0)
    assert out[0, 0].item() in ids[vocab["big"]] and out[0, 1].item() == vocab["quick"]


# --- errors -----------------------------------------------------------------------------------


def test_parameter_and_shape_errors_name_the_setting() -> None:
    x = images()
    with pytest.raises(ConfigError, match="hflip p"):
        hflip(x, gen(0), image_shape=DIGITS, p=1.5)
    with pytest.raises(ConfigError, match=r"model\.image_shape"):
        rotate(x, gen(0), image_shape=[1, 8, 9])
    with pytest.raises(ConfigError, match=r"model\.image_shape"):
        shift(x, gen(0), image_shape=[64])
    with pytest.raises(ConfigError, match="shift max_pixels"):
        shift(x, gen(0), image_shape=DIGITS, max_pixels=-1)
    with pytest.raises(ConfigError, match="noise std"):
        gaussian_noise(x, gen(0), std=-0.1)
    with pytest.raises(ConfigError, match="time_stretch max_rate"):
        time_stretch(x, gen(0), max_rate=1.0)
    with pytest.raises(DataError, match="token ids"):
        token_swap(x, gen(0))
    with pytest.raises(DataError, match="batch, n_features"):
        time_shift(torch.zeros(3), gen(0))


# --- pipeline ---------------------------------------------------------------------------------


def test_build_augmenter_applies_names_in_order() -> None:
    augmenter = build_augmenter(["hflip", "noise", "shift"], image_shape=DIGITS)
    assert isinstance(augmenter, Augmenter) and augmenter
    assert augmenter.names == ("hflip", "noise", "shift") and augmenter.image_shape == (1, 8, 8)
    x = images()
    g = gen(5)
    expected = hflip(x, g, image_shape=DIGITS)
    expected = gaussian_noise(expected, g)
    expected = shift(expected, g, image_shape=DIGITS)
    assert torch.equal(augmenter(x, gen(5)), expected)
    assert torch.equal(augmenter(x, gen(5)), augmenter(x, gen(5)))


def test_build_augmenter_accepts_every_name_and_empty_is_identity() -> None:
    assert set(NAMES) >= IMAGE_NAMES | TEXT_NAMES
    augmenter = build_augmenter([n for n in NAMES if n not in TEXT_NAMES], image_shape=DIGITS)
    assert augmenter(images(), gen(0)).shape == (16, 64)
    signals = build_augmenter(["time_shift", "time_stretch", "noise"], image_shape=None)
    assert signals(torch.randn(4, 100), gen(0)).shape == (4, 100)
    empty = build_augmenter([], image_shape=[])
    x = images()
    assert not empty and empty(x, gen(0)) is x


def test_build_augmenter_errors_name_the_bad_entry() -> None:
    with pytest.raises(ConfigError, match=r"train\.augment\[1\]: unknown augmentation 'blurr'"):
        build_augmenter(["hflip", "blurr"], image_shape=DIGITS)
    with pytest.raises(ConfigError, match="choose one of hflip, vflip"):
        build_augmenter(["blurr"], image_shape=None)
    with pytest.raises(ConfigError, match=r"train\.augment\[2\]: .*'rotate'.*model\.image_shape"):
        build_augmenter(["noise", "time_shift", "rotate"], image_shape=None)
    with pytest.raises(ConfigError, match=r"train\.augment\[0\]: .*'shift'.*model\.image_shape"):
        build_augmenter(["shift"], image_shape=[])
    with pytest.raises(ConfigError, match=r"model\.image_shape must be"):
        build_augmenter(["hflip"], image_shape=[8, 8])
    with pytest.raises(ConfigError, match=r"train\.augment must be a list"):
        build_augmenter("hflip", image_shape=DIGITS)
    with pytest.raises(ConfigError, match=r"aug\[0\]"):
        build_augmenter([3], image_shape=DIGITS, setting="aug")  # type: ignore[list-item]


# --- text through the pipeline ----------------------------------------------------------------


def test_text_augmentations_work_on_token_rows_and_keep_them_exact() -> None:
    vocabulary = fit_vocabulary(["the big dog ran quick", "a large cat ran fast"], 50)
    rows = torch.from_numpy(
        encode(["the big dog ran quick"] * 64, vocabulary, max_tokens=8)
    ).float()
    augmenter = build_augmenter(
        ["synonyms", "token_swap", "token_dropout"], image_shape=None, vocabulary=vocabulary
    )
    assert augmenter.synonyms  # big/large, quick/fast are in the shipped table
    out = augmenter(rows, gen(3))
    assert out.dtype == rows.dtype and out.shape == rows.shape
    assert torch.equal(out, out.round())  # still whole token ids
    assert not torch.equal(out, rows)
    assert set(out.unique().long().tolist()) <= set(range(len(vocabulary)))
    assert torch.equal(out, augmenter(rows, gen(3)))  # seeded
    padding = rows == 0
    assert bool((out[padding] == 0).all())  # padding stays padding


def test_text_augmentations_need_a_text_column() -> None:
    with pytest.raises(ConfigError, match=r"train\.augment\[0\]: .*'synonyms'.*data\.text"):
        build_augmenter(["synonyms"], image_shape=None)
