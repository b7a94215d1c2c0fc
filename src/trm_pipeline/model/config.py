"""Typed configuration of the Tiny Recursive Model (TRM).

The defaults are the Sudoku-Extreme attention model of "Less is More: Recursive Reasoning with
Tiny Networks" (Jolicoeur-Martineau, 2025). The MLP-mixer model of the same paper differs only in
``mlp_t=True`` and ``pos_encodings="none"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

POS_ENCODINGS = ("rope", "learned", "none")
FORWARD_DTYPES = ("bfloat16", "float32", "float16")
LOSS_TYPES = ("stablemax", "softmax")

_POSITIVE_INT_FIELDS = (
    "vocab_size",
    "seq_len",
    "num_puzzle_identifiers",
    "hidden_size",
    "num_heads",
    "num_layers",
    "num_deep_recursions",
    "num_latent_steps",
    "num_supervision_steps",
    "puzzle_emb_len",
)


@dataclass
class TRMConfig:
    """Architecture and recursion sizes of one TRM.

    Attributes:
        vocab_size: Number of token ids (PAD 0, blank 1, digits 1..9 as 2..10 for Sudoku).
        seq_len: Number of puzzle cells per sample (81 for Sudoku).
        num_puzzle_identifiers: Rows of the task embedding (1 for Sudoku: one shared task vector).
        hidden_size: Model width D.
        num_heads: Attention heads; ``hidden_size`` must be divisible by it.
        expansion: SwiGLU expansion factor before the 2/3 and multiple-of-256 rounding.
        num_layers: Blocks in the single reasoning network.
        num_deep_recursions: T, cycles per supervision step (T-1 without gradient, 1 with).
        num_latent_steps: n, latent updates per cycle before the answer update.
        num_supervision_steps: N_sup, maximum supervision (ACT) steps per sample.
        halt_exploration_prob: Probability per sample and step of drawing a minimum halt step
            during training.
        puzzle_emb_len: Prefix positions before the cells; position 0 holds the task vector.
        pos_encodings: "rope", "learned" or "none".
        mlp_t: Replace attention with a token-mixing SwiGLU over the sequence axis (TRM-MLP).
        forward_dtype: Activation dtype; master weights stay float32.
        loss_type: "stablemax" or "softmax" cross-entropy.
        rms_norm_eps: Epsilon inside the weight-free RMSNorm.
        rope_theta: RoPE frequency base.
    """

    vocab_size: int = 11
    seq_len: int = 81
    num_puzzle_identifiers: int = 1
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0
    num_layers: int = 2
    num_deep_recursions: int = 3  # T
    num_latent_steps: int = 6  # n
    num_supervision_steps: int = 16  # N_sup
    halt_exploration_prob: float = 0.1
    puzzle_emb_len: int = 16
    pos_encodings: str = "rope"
    mlp_t: bool = False
    forward_dtype: str = "bfloat16"
    loss_type: str = "stablemax"
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        for name in _POSITIVE_INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TRMConfig.{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(
                f"TRMConfig.hidden_size ({self.hidden_size}) must be divisible by num_heads "
                f"({self.num_heads}); pick a head count that divides the width."
            )
        if self.pos_encodings == "rope" and self.head_dim % 2 != 0:
            raise ValueError(
                f"RoPE needs an even head dimension, got hidden_size/num_heads = {self.head_dim}; "
                "change num_heads or use pos_encodings='learned' or 'none'."
            )
        _check_choice("pos_encodings", self.pos_encodings, POS_ENCODINGS)
        _check_choice("forward_dtype", self.forward_dtype, FORWARD_DTYPES)
        _check_choice("loss_type", self.loss_type, LOSS_TYPES)
        if not self.expansion > 0:
            raise ValueError(f"TRMConfig.expansion must be > 0, got {self.expansion!r}.")
        if not 0.0 <= self.halt_exploration_prob <= 1.0:
            raise ValueError(
                "TRMConfig.halt_exploration_prob must be in [0, 1], "
                f"got {self.halt_exploration_prob!r}."
            )
        if not self.rms_norm_eps > 0 or not self.rope_theta > 0:
            raise ValueError(
                "TRMConfig.rms_norm_eps and rope_theta must be > 0, got "
                f"{self.rms_norm_eps!r} and {self.rope_theta!r}."
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_heads

    @property
    def total_len(self) -> int:
        """Positions inside the model: the prefix followed by the cells (16 + 81 = 97)."""
        return self.puzzle_emb_len + self.seq_len

    @property
    def torch_dtype(self) -> torch.dtype:
        """The ``torch.dtype`` named by ``forward_dtype``."""
        return getattr(torch, self.forward_dtype)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TRMConfig:
        """Build a config from a mapping such as a Kedro ``params:`` dict.

        Args:
            values: Field names to values; missing fields keep their defaults.

        Returns:
            The validated config.

        Raises:
            ValueError: If a key is not a field name, or a value is invalid.
        """
        valid = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(
                f"Unknown TRMConfig keys {unknown}; valid keys are {valid}. "
                "Fix the spelling or remove the keys."
            )
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict that ``from_dict`` accepts."""
        return dataclasses.asdict(self)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"TRMConfig.{name} must be one of {list(allowed)}, got {value!r}.")
