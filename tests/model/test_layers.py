"""Norm, initialization, SwiGLU sizing, RoPE, attention and the two block variants."""

import math

import pytest
import torch
import torch.nn.functional as F

from trm_pipeline.model import TRMConfig
from trm_pipeline.model.layers import (
    Attention,
    CastedLinear,
    RotaryEmbedding,
    TRMBlock,
    apply_rope,
    rms_norm,
    swiglu_width,
    trunc_normal_,
    truncated_normal_std,
)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def test_truncated_normal_std_matches_numeric_integral():
    grid = torch.linspace(-2.0, 2.0, 200_001, dtype=torch.float64)
    density = torch.exp(-0.5 * grid**2)
    variance = torch.trapezoid(grid**2 * density, grid) / torch.trapezoid(density, grid)

    assert truncated_normal_std(2.0) == pytest.approx(math.sqrt(variance.item()), rel=1e-6)


def test_trunc_normal_has_requested_std_and_bound():
    sample = trunc_normal_(torch.empty(400_000), std=0.05)
    bound = 2.0 * 0.05 / truncated_normal_std()

    assert sample.std().item() == pytest.approx(0.05, rel=0.01)
    assert sample.abs().max().item() <= bound + 1e-7
    assert sample.abs().max().item() > 0.95 * bound


@pytest.mark.parametrize(
    ("hidden", "expansion", "expected"),
    [(512, 4.0, 1536), (97, 4.0, 512), (64, 4.0, 256), (384, 4.0, 1024)],
)
def test_swiglu_width_rounds_up_to_256(hidden, expansion, expected):
    assert swiglu_width(hidden, expansion) == expected


def test_rms_norm_matches_float64_formula():
    x = torch.randn(3, 5, 16)
    x64 = x.double()
    expected = x64 / torch.sqrt(x64.pow(2).mean(-1, keepdim=True) + 1e-5)

    out = rms_norm(x, 1e-5)

    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, rtol=1e-6, atol=1e-6)


def test_rms_norm_keeps_bfloat16_dtype():
    x = torch.randn(4, 32).to(torch.bfloat16)
    expected = rms_norm(x.float(), 1e-5)

    out = rms_norm(x, 1e-5)

    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=1e-2, atol=1e-2)


def test_casted_linear_casts_at_use():
    layer = CastedLinear(16, 8, bias=True)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 16).to(torch.bfloat16)
    expected = x.float() @ layer.weight.to(torch.bfloat16).float().T
    expected += layer.bias.to(torch.bfloat16).float()

    out = layer(x)

    assert layer.weight.dtype == torch.float32
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)


def test_casted_linear_init_std_is_lecun():
    layer = CastedLinear(1024, 512, bias=False)

    assert layer.weight.std().item() == pytest.approx(1 / math.sqrt(1024), rel=0.02)


def test_rope_equals_complex_rotation_of_half_pairs():
    head_dim, length, theta = 8, 5, 10000.0
    cos, sin = RotaryEmbedding(head_dim, length, theta)()
    x = torch.randn(2, length, 3, head_dim, dtype=torch.float64)
    half = head_dim // 2
    # Pair channel i with channel i + half and rotate by position * theta^(-2i / head_dim).
    frequencies = theta ** (-torch.arange(half, dtype=torch.float64) * 2 / head_dim)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * frequencies  # [L, half]
    rotated = (
        torch.complex(x[..., :half], x[..., half:])
        * torch.polar(torch.ones_like(angles), angles)[:, None, :]
    )
    expected = torch.cat((rotated.real, rotated.imag), dim=-1)

    out = apply_rope(x.float(), cos, sin)

    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def test_attention_matches_manual_softmax():
    attention = Attention(hidden_size=16, num_heads=2)
    x = torch.randn(2, 6, 16)
    qkv = (x @ attention.qkv_proj.weight.T).view(2, 6, 3, 2, 8)
    query, key, value = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # [B, H, L, 8]
    weights = torch.softmax(query @ key.transpose(-1, -2) / math.sqrt(8), dim=-1)
    expected = (weights @ value).transpose(1, 2).reshape(2, 6, 16) @ attention.o_proj.weight.T

    out = attention(x, rope=None)

    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_attention_block_output_is_normalized_per_position():
    config = TRMConfig(hidden_size=32, num_heads=4, forward_dtype="float32")
    block = TRMBlock(config)
    h = 3 * torch.randn(2, config.total_len, 32)

    out = block(h, RotaryEmbedding(config.head_dim, config.total_len, config.rope_theta)())

    mean_square = out.pow(2).mean(-1)
    torch.testing.assert_close(mean_square, torch.ones_like(mean_square), rtol=1e-3, atol=1e-3)


def test_mlp_mixer_token_norm_runs_over_positions():
    config = TRMConfig(
        hidden_size=32, num_heads=4, mlp_t=True, pos_encodings="none", forward_dtype="float32"
    )
    block = TRMBlock(config)
    h = 3 * torch.randn(2, config.total_len, 32)

    mixed = block.mix_tokens(h, rope=None)

    over_positions = mixed.pow(2).mean(1)  # [B, D]
    over_channels = mixed.pow(2).mean(-1)  # [B, L]
    torch.testing.assert_close(
        over_positions, torch.ones_like(over_positions), rtol=1e-3, atol=1e-3
    )
    assert (over_channels - 1).abs().max().item() > 0.05


def test_mlp_mixer_token_mlp_spans_prefix_and_cells():
    config = TRMConfig(mlp_t=True, pos_encodings="none")
    block = TRMBlock(config)

    assert block.attention is None
    assert block.token_mlp.gate_up_proj.weight.shape == (2 * 512, 97)
    assert block.token_mlp.down_proj.weight.shape == (97, 512)


def test_token_mlp_equals_explicit_transposed_computation():
    config = TRMConfig(
        hidden_size=16,
        num_heads=2,
        mlp_t=True,
        pos_encodings="none",
        puzzle_emb_len=3,
        forward_dtype="float32",
    )
    block = TRMBlock(config)
    h = torch.randn(2, config.total_len, 16)
    gate_up = block.token_mlp.gate_up_proj.weight
    down = block.token_mlp.down_proj.weight
    transposed = h.transpose(1, 2)  # [B, D, L]
    gate, up = (transposed @ gate_up.T).chunk(2, dim=-1)
    residual = transposed + (F.silu(gate) * up) @ down.T
    expected = residual / torch.sqrt(residual.pow(2).mean(-1, keepdim=True) + config.rms_norm_eps)

    out = block.mix_tokens(h, rope=None)

    torch.testing.assert_close(out, expected.transpose(1, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transposed_input", [False, True])
def test_casted_linear_bfloat16_gradients_match_plain_linear(transposed_input):
    layer = CastedLinear(32, 48, bias=True)
    with torch.no_grad():
        layer.bias.normal_()
    source = torch.randn(2, 32, 5) if transposed_input else torch.randn(2, 5, 32)
    x = source.to(torch.bfloat16)
    x = (x.transpose(1, 2) if transposed_input else x).detach().requires_grad_(True)
    x_plain = x.detach().clone().requires_grad_(True)
    weight = layer.weight.detach().clone().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    upstream = torch.randn(2, 5, 48).to(torch.bfloat16)

    layer(x).backward(upstream)
    F.linear(x_plain, weight.to(torch.bfloat16), bias.to(torch.bfloat16)).backward(upstream)

    torch.testing.assert_close(x.grad.float(), x_plain.grad.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(layer.weight.grad, weight.grad, rtol=2e-2, atol=5e-2)
    torch.testing.assert_close(layer.bias.grad, bias.grad, rtol=2e-2, atol=5e-2)
