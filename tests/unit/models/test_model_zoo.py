"""Layer tests for the model zoo: output shapes, gradient flow to every parameter, determinism
under a seed, and each architecture's layout (MLP, CNN, the sequence transformer)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainpipe.config import ModelConfig
from trainpipe.errors import ConfigError
from trainpipe.models import CNN, CNN1D, MLP, ResNet, SequenceTransformer, build_model

pytestmark = pytest.mark.unit

MLP_CONFIG = ModelConfig(kind="mlp", hidden=[16, 8], dropout=0.1)
CNN_CONFIG = ModelConfig(kind="cnn", image_shape=[1, 8, 8], channels=[4, 8], hidden=[16])
SIGNAL_CONFIG = ModelConfig(
    kind="transformer", d_model=16, heads=2, layers=2, sequence_channels=2, dropout=0.1
)
PATCH_CONFIG = ModelConfig(
    kind="transformer", d_model=8, heads=2, layers=1, patch_size=4, causal=True, dropout=0.1
)
TOKEN_CONFIG = ModelConfig(kind="transformer", d_model=16, heads=4, layers=2, causal=True)
RESNET_CONFIG = ModelConfig(kind="resnet", image_shape=[3, 16, 16], channels=[8, 16, 16])
SPECTROGRAM_CONFIG = ModelConfig(kind="cnn1d", image_shape=[1, 8, 20], channels=[8, 16])
SIGNAL_1D_CONFIG = ModelConfig(kind="cnn1d", sequence_channels=2, channels=[4])
VOCAB = 11
# (config, n_features, n_outputs, vocab_size)
CASES = [
    (MLP_CONFIG, 30, 2, 0),
    (CNN_CONFIG, 64, 10, 0),
    (SIGNAL_CONFIG, 24, 3, 0),
    (PATCH_CONFIG, 24, 1, 0),
    (TOKEN_CONFIG, 9, 4, VOCAB),
    (RESNET_CONFIG, 3 * 16 * 16, 5, 0),
    (SPECTROGRAM_CONFIG, 8 * 20, 3, 0),
    (SIGNAL_1D_CONFIG, 24, 2, 0),
]
IDS = [
    "mlp",
    "cnn",
    "transformer-signals",
    "transformer-patches",
    "transformer-tokens",
    "resnet",
    "cnn1d-spectrogram",
    "cnn1d-signal",
]
ARGS = ("config", "n_features", "n_outputs", "vocab_size")


def inputs(batch: int, n_features: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """Standardized features, or token ids as float32 with trailing padding (id 0)."""
    g = torch.Generator().manual_seed(seed)
    if not vocab_size:
        return torch.randn(batch, n_features, generator=g)
    ids = torch.randint(1, vocab_size, (batch, n_features), generator=g)
    lengths = torch.randint(1, n_features + 1, (batch,), generator=g)
    ids[torch.arange(n_features)[None, :] >= lengths[:, None]] = 0
    return ids.float()


@pytest.mark.parametrize(ARGS, CASES, ids=IDS)
def test_output_shape(
    config: ModelConfig, n_features: int, n_outputs: int, vocab_size: int
) -> None:
    model = build_model(config, n_features, n_outputs, vocab_size=vocab_size)
    for batch in (1, 2, 7, 32):
        out = model(inputs(batch, n_features, vocab_size))
        assert out.shape == (batch, n_outputs)
        assert out.dtype == torch.float32


def test_build_model_picks_the_architecture() -> None:
    assert isinstance(build_model(MLP_CONFIG, 30, 2), MLP)
    assert isinstance(build_model(CNN_CONFIG, 64, 10), CNN)
    assert isinstance(build_model(SIGNAL_CONFIG, 24, 3), SequenceTransformer)


def test_mlp_layers_follow_the_config() -> None:
    model = build_model(MLP_CONFIG, 30, 3)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(30, 16), (16, 8), (8, 3)]
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in dropouts] == [0.1, 0.1]


def test_cnn_layers_follow_the_config() -> None:
    model = build_model(CNN_CONFIG, 64, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4), (4, 8)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    # 8x8 -> 4x4 -> 2x2 after two pools, 8 channels
    assert [(m.in_features, m.out_features) for m in linears] == [(8 * 2 * 2, 16), (16, 10)]


def test_cnn_stops_pooling_on_tiny_images() -> None:
    config = ModelConfig(kind="cnn", image_shape=[2, 2, 2], channels=[3, 3, 3], hidden=[])
    model = build_model(config, 8, 4)
    assert model(torch.randn(5, 8)).shape == (5, 4)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 1


@pytest.mark.parametrize(ARGS, CASES, ids=IDS)
def test_gradient_reaches_every_parameter(
    config: ModelConfig, n_features: int, n_outputs: int, vocab_size: int
) -> None:
    torch.manual_seed(0)
    model = build_model(config, n_features, n_outputs, vocab_size=vocab_size)
    model.train()
    x = inputs(32, n_features, vocab_size)
    out = model(x)
    if n_outputs == 1:
        nn.functional.mse_loss(out.squeeze(1), torch.randn(32)).backward()
    else:
        nn.functional.cross_entropy(out, torch.randint(0, n_outputs, (32,))).backward()
    params = list(model.named_parameters())
    assert params
    for name, param in params:
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize(ARGS, CASES, ids=IDS)
def test_same_seed_builds_identical_models(
    config: ModelConfig, n_features: int, n_outputs: int, vocab_size: int
) -> None:
    torch.manual_seed(123)
    first = build_model(config, n_features, n_outputs, vocab_size=vocab_size)
    torch.manual_seed(123)
    second = build_model(config, n_features, n_outputs, vocab_size=vocab_size)
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    x = inputs(4, n_features, vocab_size)
    first.eval()
    second.eval()
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)
    # training mode too: dropout masks come from the global seed
    first.train()
    second.train()
    torch.manual_seed(5)
    out = first(x)
    torch.manual_seed(5)
    torch.testing.assert_close(out, second(x), rtol=0, atol=0)

    torch.manual_seed(124)
    other = build_model(config, n_features, n_outputs, vocab_size=vocab_size)
    assert any(not torch.equal(a[k], other.state_dict()[k]) for k in a)
    other.eval()
    assert not torch.equal(first.eval()(x), other(x))


def test_dropout_is_off_in_eval_mode() -> None:
    model = build_model(ModelConfig(hidden=[64], dropout=0.5), 10, 3)
    model.eval()
    x = torch.randn(6, 10)
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [[1, 8, 8], [3, 4, 4], [1, 5, 5]])
def test_cnn_with_mismatching_image_shape(shape: list[int]) -> None:
    config = ModelConfig(kind="cnn", image_shape=shape, channels=[4])
    with pytest.raises(ConfigError) as info:
        build_model(config, 30, 2)
    message = str(info.value)
    assert "model.image_shape" in message
    assert str(shape) in message
    assert "30 features" in message


def test_transformer_layers_follow_the_config() -> None:
    model = build_model(SIGNAL_CONFIG, 24, 3)
    assert isinstance(model, SequenceTransformer)
    assert len(model.blocks) == 2
    assert (model.channels, model.tokens, model.patch) == (2, 12, 1)
    embed = model.embed
    assert isinstance(embed, nn.Linear)
    assert (embed.in_features, embed.out_features) == (2, 16)
    attention = model.blocks[0].attention
    assert (attention.heads, attention.d_head, attention.causal) == (2, 8, False)
    assert [d.p for d in model.modules() if isinstance(d, nn.Dropout)] == [0.1] * 4
    patched = build_model(PATCH_CONFIG, 24, 1)
    assert isinstance(patched, SequenceTransformer)
    assert (patched.tokens, patched.patch, patched.blocks[0].attention.causal) == (6, 4, True)
    tokens = build_model(TOKEN_CONFIG, 9, 4, vocab_size=VOCAB)
    assert isinstance(tokens, SequenceTransformer)
    assert isinstance(tokens.embed, nn.Embedding)
    assert (tokens.embed.num_embeddings, tokens.embed.padding_idx) == (VOCAB, 0)


def test_transformer_reads_signals_channel_major() -> None:
    # a row c0_t0..c0_t5, c1_t0..c1_t5: swapping the two channels' halves must change the output
    # unless the model reads the layout it documents; rebuilding the steps by hand checks it.
    torch.manual_seed(0)
    model = build_model(SIGNAL_CONFIG, 24, 3)
    assert isinstance(model, SequenceTransformer)
    model.eval()
    x = torch.randn(2, 24)
    steps = x.reshape(2, 2, 12).transpose(1, 2)  # [batch, length, channels]
    h = model.embed(steps)
    for block in model.blocks:
        h, _ = block(h)
    expected = model.head(model.norm(h).mean(dim=1))
    torch.testing.assert_close(model(x), expected)


def test_transformer_attention_maps_per_block() -> None:
    torch.manual_seed(0)
    model = build_model(TOKEN_CONFIG, 9, 4, vocab_size=VOCAB)
    assert isinstance(model, SequenceTransformer)
    model.eval()
    x = inputs(5, 9, VOCAB)
    out, maps = model.forward_with_attention(x)
    torch.testing.assert_close(out, model(x))
    assert [m.shape for m in maps] == [(5, 4, 9, 9)] * 2


def test_transformer_padding_does_not_leak_into_the_output() -> None:
    torch.manual_seed(0)
    model = build_model(TOKEN_CONFIG, 9, 4, vocab_size=VOCAB)
    assert isinstance(model, SequenceTransformer)
    model.eval()
    x = torch.tensor([[3.0, 7.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0] * 9])
    before = model(x)
    with torch.no_grad():  # whatever the padding embedding holds, real tokens never see it
        model.embed.weight[0] = torch.randn(16) * 10
    after = model(x)
    torch.testing.assert_close(before[0], after[0])
    assert torch.isfinite(after).all(), "an all-padding row must not give NaN"


def test_transformer_size_errors_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"model.sequence_channels=5 does not divide the 24"):
        build_model(ModelConfig(kind="transformer", sequence_channels=5), 24, 2)
    with pytest.raises(
        ConfigError, match=r"model.patch_size=5 does not divide the series length 12"
    ):
        build_model(ModelConfig(kind="transformer", sequence_channels=2, patch_size=5), 24, 2)
    with pytest.raises(
        ConfigError, match=r"model.d_model=12 must be a multiple of 2 x model.heads"
    ):
        build_model(ModelConfig(kind="transformer", d_model=12, heads=4), 24, 2)
    with pytest.raises(ConfigError, match="patch_size must be 1 for token inputs"):
        build_model(ModelConfig(kind="transformer", patch_size=3), 24, 2, vocab_size=5)


def test_resnet_halves_the_resolution_after_the_first_stage() -> None:
    model = build_model(RESNET_CONFIG, 3 * 16 * 16, 5)
    assert isinstance(model, ResNet)
    seen: list[tuple[int, ...]] = []
    for block in model.blocks:
        block.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:])))
    model(torch.randn(2, 3 * 16 * 16))
    assert seen == [(8, 16, 16), (16, 8, 8), (16, 4, 4)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # rank-independent


def test_cnn1d_reads_a_spectrogram_as_bands_over_time() -> None:
    model = build_model(SPECTROGRAM_CONFIG, 160, 3)
    assert isinstance(model, CNN1D)
    first = next(m for m in model.modules() if isinstance(m, nn.Conv1d))
    assert (first.in_channels, first.out_channels) == (8, 8)
    x = torch.randn(2, 8, 20)
    shifted = torch.roll(x, 4, dims=2)  # the same sound, later: pooling over time sees it alike
    out, later = model.eval()(x.reshape(2, -1)), model(shifted.reshape(2, -1))
    assert out.shape == (2, 3) and not torch.equal(out, later)
    with pytest.raises(ConfigError, match="cnn1d reads each row of 25 values as 2 channels"):
        build_model(SIGNAL_1D_CONFIG, 25, 2)


@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_trains_as_the_explicit_softmax_does(causal: bool) -> None:
    """``forward`` attends through torch's fused kernel, ``forward_with_attention`` through the
    explicit softmax: the same outputs and gradients, left padding under a causal mask (queries
    that see no key at all) and an all-padding row included."""
    from trainpipe.models.attention import MultiHeadSelfAttention

    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(16, 4, causal=causal)
    x = torch.randn(3, 6, 16, requires_grad=True)
    real = torch.tensor([[False, False, True, True, True, True], [True] * 6, [False] * 6])
    explicit, maps = attention(x, real)
    fused, none = attention(x, real, need_weights=False)
    assert maps is not None and none is None
    torch.testing.assert_close(fused, explicit, rtol=0, atol=1e-6)
    (grad_explicit,) = torch.autograd.grad(explicit.square().sum(), x)
    (grad_fused,) = torch.autograd.grad(fused.square().sum(), x)
    torch.testing.assert_close(grad_fused, grad_explicit, rtol=0, atol=1e-5)
    assert torch.isfinite(grad_fused).all()
