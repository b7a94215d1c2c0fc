"""Adaptive computation time (ACT): the carry that streams samples through supervision steps.

Each call advances every slot of a fixed-size batch by one supervision step. A slot that halted
on the previous call is reset to (y0, z0) and takes the next sample from the incoming batch. A
slot still running keeps its sample, so the incoming sample for that slot is dropped. This is how
the reference implements deep supervision without an inner loop over N_sup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import torch
from torch import Tensor

from trm_pipeline.model.network import StepOutput, TinyRecursiveModel

HALTING_MODES = ("fixed", "learned")
IGNORE_LABEL = -100
# Exploration never draws a minimum below 2 supervision steps.
MIN_EXPLORATION_STEPS = 2


@dataclass
class ACTCarry:
    """State of every batch slot between supervision steps.

    Attributes:
        answer: y, ``[B, P+81, D]``.
        latent: z, ``[B, P+81, D]``.
        steps: Supervision steps taken by the slot's current sample, ``[B]`` int32.
        halted: Whether the slot finished and takes a new sample on the next call, ``[B]`` bool.
        tokens: The slot's current input tokens, ``[B, 81]`` long.
        labels: The slot's current labels, ``[B, 81]`` long, -100 where ignored.
        puzzle_ids: The slot's current task ids, ``[B]`` long.
    """

    answer: Tensor
    latent: Tensor
    steps: Tensor
    halted: Tensor
    tokens: Tensor
    labels: Tensor
    puzzle_ids: Tensor


def initial_carry(
    model: TinyRecursiveModel, batch_size: int, device: torch.device | str
) -> ACTCarry:
    """Return a carry whose slots are all halted, so the first ``act_step`` loads a full batch."""
    answer, latent = model.initial_state(batch_size, device)
    seq_len = model.config.seq_len
    return ACTCarry(
        answer=answer,
        latent=latent,
        steps=torch.zeros(batch_size, dtype=torch.int32, device=device),
        halted=torch.ones(batch_size, dtype=torch.bool, device=device),
        tokens=torch.zeros(batch_size, seq_len, dtype=torch.long, device=device),
        labels=torch.full((batch_size, seq_len), IGNORE_LABEL, dtype=torch.long, device=device),
        puzzle_ids=torch.zeros(batch_size, dtype=torch.long, device=device),
    )


def reset_halted_slots(
    model: TinyRecursiveModel,
    carry: ACTCarry,
    tokens: Tensor,
    labels: Tensor,
    puzzle_ids: Tensor,
) -> ACTCarry:
    """Reset halted slots to (y0, z0) with 0 steps and load their new samples.

    Running slots keep their state and sample; the batch rows for them are discarded.
    """
    halted = carry.halted
    per_state = halted.view(-1, 1, 1)
    per_cell = halted.view(-1, 1)
    initial_answer = model.initial_answer.to(carry.answer.dtype)
    initial_latent = model.initial_latent.to(carry.latent.dtype)
    return ACTCarry(
        answer=torch.where(per_state, initial_answer, carry.answer),
        latent=torch.where(per_state, initial_latent, carry.latent),
        steps=torch.where(halted, torch.zeros_like(carry.steps), carry.steps),
        halted=halted,
        tokens=torch.where(per_cell, tokens.long(), carry.tokens),
        labels=torch.where(per_cell, labels.long(), carry.labels),
        puzzle_ids=torch.where(halted, puzzle_ids.long(), carry.puzzle_ids),
    )


def _exploration_min_steps(
    batch: int,
    limit: int,
    probability: float,
    device: torch.device,
    generator: torch.Generator | None,
) -> Tensor:
    """Draw min_halt ~ U{2..limit} with the given probability per slot, else 0; ``[B]``."""
    draw_device = generator.device if generator is not None else device
    explore = torch.rand(batch, generator=generator, device=draw_device) < probability
    high = max(limit, MIN_EXPLORATION_STEPS) + 1
    min_steps = torch.randint(
        MIN_EXPLORATION_STEPS, high, (batch,), generator=generator, device=draw_device
    )
    return torch.where(explore, min_steps, torch.zeros_like(min_steps)).to(device)


def decide_halting(
    steps: Tensor,
    halt_logit: Tensor,
    *,
    training: bool,
    halting: str,
    limit: int,
    exploration_prob: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return which slots halt after this step, ``[B]`` bool.

    Training (with ``limit > 1``) halts on ``halt_logit > 0`` or at the limit. Random minimum
    step counts, redrawn at every call, then postpone some of those halts. Evaluation with
    ``halting="fixed"`` runs exactly ``limit`` steps. With ``halting="learned"`` it also stops
    where ``halt_logit > 0``.
    """
    halted = steps >= limit
    halt_logit = halt_logit.detach()
    if training and limit > 1:
        halted = halted | (halt_logit > 0)
        min_steps = _exploration_min_steps(
            steps.shape[0], limit, exploration_prob, steps.device, generator
        )
        return halted & (steps >= min_steps)
    if not training and halting == "learned":
        return halted | (halt_logit > 0)
    return halted


def _check_act_arguments(
    model: TinyRecursiveModel,
    carry: ACTCarry,
    tokens: Tensor,
    labels: Tensor,
    *,
    halting: str,
    max_steps: int | None,
) -> None:
    if halting not in HALTING_MODES:
        raise ValueError(f"halting must be one of {list(HALTING_MODES)}, got {halting!r}.")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 or None (N_sup), got {max_steps!r}.")
    expected = (carry.tokens.shape[0], model.config.seq_len)
    for name, value in (("tokens", tokens), ("labels", labels)):
        if tuple(value.shape) != expected:
            raise ValueError(
                f"{name} must have shape {list(expected)} to match the carry, got "
                f"{list(value.shape)}; keep the batch size fixed and pad the last batch."
            )


def act_step(
    model: TinyRecursiveModel,
    carry: ACTCarry,
    tokens: Tensor,
    labels: Tensor,
    puzzle_ids: Tensor | None = None,
    *,
    training: bool,
    halting: str = "fixed",
    max_steps: int | None = None,
    generator: torch.Generator | None = None,
    forward: Callable[..., StepOutput] | None = None,
) -> tuple[ACTCarry, StepOutput]:
    """Advance every slot by one supervision step.

    Args:
        model: The TRM.
        carry: State from ``initial_carry`` or the previous call.
        tokens: Incoming batch, ``[B, 81]``; only rows of halted slots are used.
        labels: Incoming labels, ``[B, 81]``.
        puzzle_ids: Incoming task ids, ``[B]``, or None for 0.
        training: Use the training halting rule (learned halt plus exploration).
        halting: Evaluation rule, "fixed" (always ``max_steps`` steps) or "learned". Training
            ignores it.
        max_steps: Step limit in training and evaluation. It defaults to N_sup and may exceed
            it at test time.
        generator: Source of the exploration draws, for reproducible runs.
        forward: Module that runs the forward pass in place of ``model``, such as its
            ``DistributedDataParallel`` or ``torch.compile`` wrapper. ``model`` still supplies
            the config and the initial y and z.

    Returns:
        The new carry (steps incremented, halted updated) and the step output.
    """
    _check_act_arguments(model, carry, tokens, labels, halting=halting, max_steps=max_steps)
    if puzzle_ids is None:
        puzzle_ids = torch.zeros(tokens.shape[0], dtype=torch.long, device=tokens.device)
    limit = max_steps if max_steps is not None else model.config.num_supervision_steps

    carry = reset_halted_slots(model, carry, tokens, labels, puzzle_ids)
    output = (forward or model)(carry.tokens, carry.answer, carry.latent, carry.puzzle_ids)
    steps = carry.steps + 1
    halted = decide_halting(
        steps,
        output.halt_logit,
        training=training,
        halting=halting,
        limit=limit,
        exploration_prob=model.config.halt_exploration_prob,
        generator=generator,
    )
    new_carry = replace(
        carry, answer=output.answer, latent=output.latent, steps=steps, halted=halted
    )
    return new_carry, output


StepCallback = Callable[[int, StepOutput, ACTCarry], None]
StateT = TypeVar("StateT", ACTCarry, StepOutput)


def _keep_where(done: Tensor, frozen: Tensor, fresh: Tensor) -> Tensor:
    return torch.where(done.view((-1,) + (1,) * (fresh.ndim - 1)), frozen, fresh)


def _freeze_finished(done: Tensor, frozen: StateT, fresh: StateT) -> StateT:
    """Return ``fresh`` with the slots in ``done`` taken from ``frozen`` (carry or output)."""
    fields = {
        name: _keep_where(done, getattr(frozen, name), value) for name, value in vars(fresh).items()
    }
    return type(fresh)(**fields)


@torch.no_grad()
def run_to_halt(
    model: TinyRecursiveModel,
    tokens: Tensor,
    labels: Tensor,
    *,
    puzzle_ids: Tensor | None = None,
    halting: str = "fixed",
    max_steps: int | None = None,
    on_step: StepCallback | None = None,
) -> tuple[ACTCarry, StepOutput, list[dict[str, Tensor]]]:
    """Evaluate a batch from a fresh carry until every slot has halted.

    A slot keeps the carry and output of the step it halted on, so with ``halting="learned"``
    the prediction of each puzzle comes from its own halting step.

    Args:
        model: The TRM, usually in eval mode.
        tokens: ``[B, 81]`` cell tokens.
        labels: ``[B, 81]`` labels, -100 where ignored.
        puzzle_ids: ``[B]`` task ids, or None.
        halting: "fixed" or "learned"; see ``act_step``.
        max_steps: Step limit; defaults to N_sup.
        on_step: Called as ``on_step(step, output, carry)`` after every call with the frozen
            output and carry, for per-step curves.

    Returns:
        The frozen final carry, the frozen final output and one dict per step with
        ``predictions`` ``[B, 81]``, ``halt_logit`` ``[B]`` and ``halted`` ``[B]`` (the slot
        halted on or before that step).
    """
    carry = initial_carry(model, tokens.shape[0], tokens.device)
    done = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
    final_carry, final_output = None, None
    history: list[dict[str, Tensor]] = []
    step = 0
    while not bool(done.all()):
        carry, output = act_step(
            model,
            carry,
            tokens,
            labels,
            puzzle_ids,
            training=False,
            halting=halting,
            max_steps=max_steps,
        )
        step += 1
        if final_carry is None:
            final_carry, final_output = carry, output
        else:
            final_carry = _freeze_finished(done, final_carry, carry)
            final_output = _freeze_finished(done, final_output, output)
        done = done | carry.halted
        history.append(
            {
                "predictions": final_output.logits.argmax(-1),
                "halt_logit": final_output.halt_logit,
                "halted": done.clone(),
            }
        )
        if on_step is not None:
            on_step(step, final_output, final_carry)
    return final_carry, final_output, history
