"""Building blocks of the TRM network: norm, casted linear layers, SwiGLU, RoPE and the block.

All weights are float32 master copies cast to the activation dtype at use (no autocast), and no
layer has a bias except the halting head. RMSNorm has no learnable gain, so the model contains no
norm parameters at all.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trm_pipeline.model.config import TRMConfig

# Truncation bound of the initial weights, in standard deviations (JAX-style).
TRUNCATION_BOUND = 2.0


def truncated_normal_std(bound: float = TRUNCATION_BOUND) -> float:
    """Return the standard deviation of a unit normal truncated to [-bound, bound]."""
    density = math.exp(-0.5 * bound * bound) / math.sqrt(2.0 * math.pi)
    mass = math.erf(bound / math.sqrt(2.0))
    return math.sqrt(1.0 - 2.0 * bound * density / mass)


@torch.no_grad()
def trunc_normal_(tensor: Tensor, std: float) -> Tensor:
    """Fill ``tensor`` in place from a normal truncated at +-2 sigma with actual std ``std``.

    Truncation shrinks the spread, so the draw is rescaled by ``std / truncated_normal_std()``.
    That makes the standard deviation of the result equal ``std``, as in JAX initializers.
    """
    if std == 0:
        return tensor.zero_()
    nn.init.trunc_normal_(tensor, mean=0.0, std=1.0, a=-TRUNCATION_BOUND, b=TRUNCATION_BOUND)
    return tensor.mul_(std / truncated_normal_std())


def rms_norm(x: Tensor, eps: float) -> Tensor:
    """Normalize the last axis to unit root mean square, computed in float32.

    Args:
        x: Any shape ``[..., C]``.
        eps: Added to the mean square before the reciprocal square root.

    Returns:
        ``x * rsqrt(mean(x^2) + eps)`` over the last axis, in the dtype of ``x``.
    """
    x32 = x.float()
    x32 = x32 * torch.rsqrt(x32.square().mean(-1, keepdim=True) + eps)
    return x32.to(x.dtype)


def _transposed_left_matmul(left: Tensor, right: Tensor) -> Tensor:
    """Multiply ``left @ right`` with ``left`` passed as a transposed view of a contiguous copy.

    On x86 CPUs without native bf16 instructions (AVX2 only), PyTorch 2.13 runs bf16 matmuls
    about 2x faster in this layout than with a row-major left operand, and about 20x faster
    than with both operands row-major. The copy of ``left`` costs little next to the product.
    """
    return left.t().contiguous().t() @ right


class _CpuBfloat16Linear(torch.autograd.Function):
    """``x @ weight.T`` for bf16 inputs on CPU, with every product in the fast layout.

    Takes the float32 master weight and returns its gradient in float32, like a cast followed
    by ``F.linear`` would.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return _cpu_bfloat16_linear(x, weight)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        grad_2d = grad.reshape(-1, grad.shape[-1])  # [M, out]
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = _transposed_left_matmul(grad_2d, weight.to(grad.dtype)).view(x.shape)
        if ctx.needs_input_grad[1]:
            x_2d = x.reshape(-1, x.shape[-1])
            grad_weight = (grad_2d.t() @ x_2d).to(weight.dtype)
        return grad_x, grad_weight


def _cpu_bfloat16_linear(x: Tensor, weight: Tensor) -> Tensor:
    # One pass casts and transposes the float32 master weight.
    weight_t = weight.t().to(dtype=x.dtype, memory_format=torch.contiguous_format)  # [in, out]
    out = _transposed_left_matmul(x.reshape(-1, x.shape[-1]), weight_t)
    return out.view(*x.shape[:-1], weight.shape[0])


def _use_cpu_bfloat16_kernel(x: Tensor) -> bool:
    """Return whether an eager CPU bf16 call takes the layout-tuned path.

    Compiled and exported graphs keep ``F.linear``.
    """
    return (
        x.device.type == "cpu"
        and x.dtype == torch.bfloat16
        and not torch.compiler.is_compiling()
        and not torch.onnx.is_in_onnx_export()
    )


class CastedLinear(nn.Module):
    """Linear layer with float32 weights cast to the input dtype at every call.

    The weight starts from a truncated-normal LeCun draw (std ``1/sqrt(in_features)``) and the
    bias, if any, at zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        trunc_normal_(self.weight, std=1.0 / math.sqrt(in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        if not _use_cpu_bfloat16_kernel(x):
            return F.linear(x, self.weight.to(x.dtype), bias)
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            out = _CpuBfloat16Linear.apply(x, self.weight)
        else:
            out = _cpu_bfloat16_linear(x, self.weight)
        return out if bias is None else out + bias


class CastedEmbedding(nn.Module):
    """Embedding table with float32 weights; lookups are returned in ``dtype``."""

    def __init__(self, num_embeddings: int, dim: int, init_std: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype
        self.weight = nn.Parameter(torch.empty(num_embeddings, dim))
        trunc_normal_(self.weight, std=init_std)

    def forward(self, ids: Tensor) -> Tensor:
        return F.embedding(ids, self.weight.to(self.dtype))


def swiglu_width(hidden_size: int, expansion: float) -> int:
    """Return the SwiGLU inner width: round(expansion * hidden * 2/3), up to a multiple of 256."""
    width = round(expansion * hidden_size * 2 / 3)
    return -(-width // 256) * 256


class SwiGLU(nn.Module):
    """Gated MLP ``down(silu(gate) * up)`` with a fused gate/up projection and no biases."""

    def __init__(self, hidden_size: int, expansion: float) -> None:
        super().__init__()
        inner = swiglu_width(hidden_size, expansion)
        self.gate_up_proj = CastedLinear(hidden_size, 2 * inner, bias=False)
        self.down_proj = CastedLinear(inner, hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class RotaryEmbedding(nn.Module):
    """Float32 RoPE cos/sin tables over every model position (prefix and cells).

    The tables use the rotate-half layout: frequency i drives channels i and i + head_dim/2.
    They are not saved in the state dict because they follow from the config.
    """

    def __init__(self, head_dim: int, num_positions: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(num_positions, dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)  # [L, head_dim]
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self) -> tuple[Tensor, Tensor]:
        return self.cos, self.sin


def rotate_half(x: Tensor) -> Tensor:
    """Map channel halves (a, b) to (-b, a)."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate queries or keys in float32 and cast back.

    Args:
        x: ``[B, L, H, head_dim]``.
        cos: ``[L, head_dim]`` float32.
        sin: ``[L, head_dim]`` float32.
    """
    x32 = x.float()
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # [L, 1, head_dim]
    return (x32 * cos + rotate_half(x32) * sin).to(x.dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused qkv projection and no biases."""

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * hidden_size, bias=False)
        self.o_proj = CastedLinear(hidden_size, hidden_size, bias=False)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        """Attend over all positions.

        Args:
            x: ``[B, L, D]``.
            rope: RoPE ``(cos, sin)`` tables of shape ``[L, head_dim]``, or None.

        Returns:
            ``[B, L, D]``.
        """
        batch, length, width = x.shape
        qkv = self.qkv_proj(x).view(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.unbind(dim=2)  # each [B, L, H, head_dim]
        if rope is not None:
            query, key = apply_rope(query, *rope), apply_rope(key, *rope)
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), is_causal=False
        )  # [B, H, L, head_dim]
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, width))


def _transpose_contiguous(x: Tensor) -> Tensor:
    """Swap the last two axes of ``[B, M, N]`` into a contiguous ``[B, N, M]`` copy.

    A linear layer on a contiguous input runs as one 2-D matmul, but on the strided view it
    becomes a batched matmul, which is about 10x slower in bf16 on AVX2-only CPUs.
    """
    return x.transpose(1, 2).contiguous()


class TRMBlock(nn.Module):
    """One post-norm block: sequence mixing, then a channel SwiGLU, each followed by RMSNorm.

    Attention variant: ``h = norm(h + attn(h)); h = norm(h + mlp(h))``. The MLP-mixer variant
    (``config.mlp_t``) mixes tokens with a SwiGLU over the sequence axis instead of attention.
    """

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.eps = config.rms_norm_eps
        if config.mlp_t:
            self.token_mlp = SwiGLU(config.total_len, config.expansion)
            self.attention = None
        else:
            self.token_mlp = None
            self.attention = Attention(config.hidden_size, config.num_heads)
        self.mlp = SwiGLU(config.hidden_size, config.expansion)

    def mix_tokens(self, h: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        """Apply the sequence-mixing sublayer with its residual and post-norm.

        Args:
            h: ``[B, L, D]``.
            rope: RoPE tables for the attention variant, or None.

        Returns:
            ``[B, L, D]``.
        """
        if self.token_mlp is None:
            return rms_norm(h + self.attention(h, rope), self.eps)
        # The norm runs while transposed, so it normalizes each channel over the L positions.
        # This matches the reference TRM-MLP, unlike a per-position norm over channels.
        transposed = _transpose_contiguous(h)  # [B, D, L]
        transposed = rms_norm(transposed + self.token_mlp(transposed), self.eps)
        return _transpose_contiguous(transposed)  # [B, L, D]

    def forward(self, h: Tensor, rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        h = self.mix_tokens(h, rope)
        return rms_norm(h + self.mlp(h), self.eps)  # [B, L, D]
