"""The Tiny Recursive Model: input embedding, one small reasoning net, recursion and heads.

One supervision step refines an answer state y and a latent state z, both ``[B, P+81, D]``
where P = ``puzzle_emb_len`` prefix positions precede the 81 cells. Each cycle runs n latent
updates ``z <- net(z, y + x)`` and then one answer update ``y <- net(y, z)``. The first T-1
cycles run without gradient and only the last one is backpropagated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.layers import (
    CastedEmbedding,
    CastedLinear,
    RotaryEmbedding,
    TRMBlock,
    trunc_normal_,
)

TASK_EMBEDDING_NAME = "task_embedding"
# The halting head starts far below 0 so no sample halts early before it has learned anything.
HALT_BIAS_INIT = -5.0

Rope = tuple[Tensor, Tensor] | None


@dataclass
class StepOutput:
    """Result of one supervision step.

    Attributes:
        answer: y after the step, detached, ``[B, P+81, D]`` in the forward dtype.
        latent: z after the step, detached, ``[B, P+81, D]``.
        logits: Cell logits from the final y, with gradient, ``[B, 81, vocab]`` float32.
        halt_logit: Halting logit read at prefix position 0, ``[B]`` float32.
    """

    answer: Tensor
    latent: Tensor
    logits: Tensor
    halt_logit: Tensor


class ReasoningNet(nn.Module):
    """The single network shared by latent and answer updates: ``blocks(hidden + injection)``."""

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(TRMBlock(config) for _ in range(config.num_layers))

    def forward(self, hidden: Tensor, injection: Tensor, rope: Rope = None) -> Tensor:
        hidden = hidden + injection  # [B, P+81, D]
        for block in self.blocks:
            hidden = block(hidden, rope)
        return hidden


class TinyRecursiveModel(nn.Module):
    """TRM for fixed-length puzzles (Sudoku: 81 cells, vocabulary 11)."""

    def __init__(self, config: TRMConfig) -> None:
        super().__init__()
        self.config = config
        self.forward_dtype = config.torch_dtype
        width = config.hidden_size
        self.embed_scale = math.sqrt(width)

        self.token_embedding = CastedEmbedding(
            config.vocab_size, width, init_std=1.0 / math.sqrt(width), dtype=self.forward_dtype
        )
        # One learned vector per puzzle identifier, placed at prefix position 0. The reference
        # keeps it outside the dense optimizer and the EMA, so it is counted apart.
        self.task_embedding = nn.Parameter(torch.zeros(config.num_puzzle_identifiers, width))
        self.position_embedding = None
        if config.pos_encodings == "learned":
            self.position_embedding = CastedEmbedding(
                config.total_len, width, init_std=1.0 / math.sqrt(width), dtype=self.forward_dtype
            )
        self.rotary = None
        if config.pos_encodings == "rope":
            self.rotary = RotaryEmbedding(config.head_dim, config.total_len, config.rope_theta)

        self.net = ReasoningNet(config)

        self.lm_head = CastedLinear(width, config.vocab_size, bias=False)
        # Output 0 is the halt logit. Output 1 (continue) is unused but kept so the parameter
        # count matches the reference.
        self.q_head = CastedLinear(width, 2, bias=True)
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(HALT_BIAS_INIT)

        # y0 and z0: fixed random vectors, never trained, shared by every position and sample.
        self.register_buffer("initial_answer", self._random_state_vector(width))
        self.register_buffer("initial_latent", self._random_state_vector(width))

    def _random_state_vector(self, width: int) -> Tensor:
        return trunc_normal_(torch.empty(width), std=1.0).to(self.forward_dtype)

    def initial_state(self, batch_size: int, device: torch.device | str) -> tuple[Tensor, Tensor]:
        """Return fresh (y0, z0) states, each ``[B, P+81, D]`` in the forward dtype."""
        shape = (batch_size, self.config.total_len, self.config.hidden_size)
        answer = self.initial_answer.to(device).expand(shape).clone()
        latent = self.initial_latent.to(device).expand(shape).clone()
        return answer, latent

    def embed_inputs(self, tokens: Tensor, puzzle_ids: Tensor | None = None) -> Tensor:
        """Embed the cells and prepend the task prefix.

        Args:
            tokens: ``[B, 81]`` integer cell tokens.
            puzzle_ids: ``[B]`` integer task ids, or None for id 0 everywhere.

        Returns:
            x, ``[B, P+81, D]`` in the forward dtype, scaled by sqrt(D).
        """
        self._check_tokens(tokens)
        batch = tokens.shape[0]
        if puzzle_ids is None:
            puzzle_ids = torch.zeros(batch, dtype=torch.long, device=tokens.device)
        if puzzle_ids.shape != (batch,):
            raise ValueError(
                f"puzzle_ids must have shape [{batch}] to match tokens, got "
                f"{list(puzzle_ids.shape)}; pass one id per sample or None."
            )
        width = self.config.hidden_size
        task = self.task_embedding[puzzle_ids].to(self.forward_dtype)  # [B, D]
        # Prefix: the task vector at position 0, then P-1 zero positions (free scratch space).
        padding = task.new_zeros(batch, self.config.puzzle_emb_len - 1, width)
        prefix = torch.cat((task.unsqueeze(1), padding), dim=1)  # [B, P, D]
        embedded = torch.cat((prefix, self.token_embedding(tokens)), dim=1)  # [B, P+81, D]
        if self.position_embedding is not None:
            embedded = (embedded + self.position_embedding.weight.to(self.forward_dtype)) / (
                math.sqrt(2.0)
            )
        return embedded * self.embed_scale

    def _check_tokens(self, tokens: Tensor) -> None:
        if tokens.ndim != 2 or tokens.shape[1] != self.config.seq_len:
            raise ValueError(
                f"tokens must have shape [B, {self.config.seq_len}], got {list(tokens.shape)}; "
                "flatten each grid row-major into seq_len cells."
            )
        if tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise ValueError(f"tokens must be an integer tensor, got {tokens.dtype}.")

    def update_latent(self, latent: Tensor, answer_plus_inputs: Tensor, rope: Rope) -> Tensor:
        """Return z <- net(z, y + x), ``[B, P+81, D]``."""
        return self.net(latent, answer_plus_inputs, rope)

    def update_answer(self, answer: Tensor, latent: Tensor, rope: Rope) -> Tensor:
        """Return y <- net(y, z). The input x is absent, which tells the net which task it does."""
        return self.net(answer, latent, rope)

    def refine_once(
        self, answer: Tensor, latent: Tensor, inputs: Tensor, rope: Rope
    ) -> tuple[Tensor, Tensor]:
        """Run one cycle: n latent updates, then one answer update. Returns (y, z)."""
        answer_plus_inputs = answer + inputs  # y stays fixed during the n latent updates
        for _ in range(self.config.num_latent_steps):
            latent = self.update_latent(latent, answer_plus_inputs, rope)
        answer = self.update_answer(answer, latent, rope)
        return answer, latent

    def supervision_step(
        self,
        tokens: Tensor,
        answer: Tensor,
        latent: Tensor,
        puzzle_ids: Tensor | None = None,
    ) -> StepOutput:
        """Run T cycles (T-1 without gradient, the last with gradient) and read the heads.

        Args:
            tokens: ``[B, 81]`` cell tokens.
            answer: y, ``[B, P+81, D]`` carried from the previous step or ``initial_state``.
            latent: z, ``[B, P+81, D]``.
            puzzle_ids: ``[B]`` task ids, or None.

        Returns:
            The detached carry, the cell logits and the halting logit.
        """
        self._check_state(answer, tokens.shape[0], "answer")
        self._check_state(latent, tokens.shape[0], "latent")
        inputs = self.embed_inputs(tokens, puzzle_ids)  # x: [B, P+81, D]
        rope = self.rotary() if self.rotary is not None else None
        answer, latent = answer.to(self.forward_dtype), latent.to(self.forward_dtype)

        with torch.no_grad():
            for _ in range(self.config.num_deep_recursions - 1):
                answer, latent = self.refine_once(answer, latent, inputs, rope)
        answer, latent = self.refine_once(answer, latent, inputs, rope)

        # The prefix positions carry no cell, so they get no logits; position 0 feeds halting.
        logits = self.lm_head(answer)[:, self.config.puzzle_emb_len :].float()  # [B, 81, V]
        halt_logit = self.q_head(answer[:, 0]).float()[:, 0]  # [B]
        return StepOutput(answer.detach(), latent.detach(), logits, halt_logit)

    def _check_state(self, state: Tensor, batch: int, name: str) -> None:
        expected = (batch, self.config.total_len, self.config.hidden_size)
        if tuple(state.shape) != expected:
            raise ValueError(
                f"{name} must have shape {list(expected)}, got {list(state.shape)}; "
                "start from model.initial_state(batch_size, device)."
            )

    def forward(
        self,
        tokens: Tensor,
        answer: Tensor,
        latent: Tensor,
        puzzle_ids: Tensor | None = None,
    ) -> StepOutput:
        """Run one supervision step; see ``supervision_step``."""
        return self.supervision_step(tokens, answer, latent, puzzle_ids)


def _is_task_parameter(name: str) -> bool:
    return name.rsplit(".", maxsplit=1)[-1] == TASK_EMBEDDING_NAME


def dense_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Return the trainable parameters except the task embedding (the AdamATan2 group)."""
    return [
        param
        for name, param in model.named_parameters()
        if param.requires_grad and not _is_task_parameter(name)
    ]


def task_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Return the task embedding parameters (the SignSGD group)."""
    return [
        param
        for name, param in model.named_parameters()
        if param.requires_grad and _is_task_parameter(name)
    ]


def count_parameters(model: nn.Module, include_task_embedding: bool = False) -> int:
    """Count trainable parameters.

    The default leaves out the task embedding, because the reference stores it as a buffer.
    That gives the published counts: 6,828,034 for the Sudoku attention model and 5,028,866
    for the MLP model.
    """
    params = dense_parameters(model)
    if include_task_embedding:
        params += task_parameters(model)
    return sum(param.numel() for param in params)
