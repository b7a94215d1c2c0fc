"""ACT carry streaming, halting rules and evaluation until every slot halts."""

import pytest
import torch
from torch import nn

from trm_pipeline.model import TinyRecursiveModel, TRMConfig, act_step, initial_carry, run_to_halt
from trm_pipeline.model.act import decide_halting


def small_model(**overrides) -> TinyRecursiveModel:
    values = {
        "hidden_size": 32,
        "num_heads": 4,
        "num_deep_recursions": 2,
        "num_latent_steps": 1,
        "num_supervision_steps": 3,
        "puzzle_emb_len": 2,
        "forward_dtype": "float32",
    }
    values.update(overrides)
    return TinyRecursiveModel(TRMConfig(**values))


def random_batch(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randint(1, 11, (batch, 81)), torch.randint(2, 11, (batch, 81))


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


class ScriptedHaltHead(nn.Module):
    """Halting head whose halt logit per slot turns positive from a given call on."""

    def __init__(self, halt_from_call: list[int]) -> None:
        super().__init__()
        self.halt_from_call = torch.tensor(halt_from_call)
        self.calls = 0

    def forward(self, answer_at_prefix: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        halt = torch.where(self.calls >= self.halt_from_call, 5.0, -5.0)
        return torch.stack((halt, torch.zeros_like(halt)), dim=-1).to(answer_at_prefix.dtype)


def test_initial_carry_is_all_halted():
    carry = initial_carry(small_model(), 4, "cpu")

    assert carry.halted.all()
    assert carry.steps.dtype == torch.int32
    assert carry.answer.shape == (4, 83, 32)


def test_first_step_loads_the_batch():
    model = small_model()
    tokens, labels = random_batch()

    carry, _ = act_step(model, initial_carry(model, 2, "cpu"), tokens, labels, training=False)

    assert torch.equal(carry.tokens, tokens)
    assert torch.equal(carry.labels, labels)
    assert carry.steps.tolist() == [1, 1]
    assert not carry.halted.any()


def test_carry_resets_only_halted_slots():
    model = small_model()
    old_tokens, old_labels = random_batch()
    new_tokens, new_labels = random_batch()
    carry, _ = act_step(
        model, initial_carry(model, 2, "cpu"), old_tokens, old_labels, training=False
    )
    carry.halted = torch.tensor([True, False])
    with torch.no_grad():
        fresh_answer, fresh_latent = model.initial_state(1, "cpu")
        fresh = model(new_tokens[:1], fresh_answer, fresh_latent)
        continued = model(old_tokens[1:], carry.answer[1:], carry.latent[1:])

    carry, output = act_step(model, carry, new_tokens, new_labels, training=False)

    assert torch.equal(carry.tokens[0], new_tokens[0])
    assert torch.equal(carry.labels[0], new_labels[0])
    assert torch.equal(carry.tokens[1], old_tokens[1])
    assert torch.equal(carry.labels[1], old_labels[1])
    assert carry.steps.tolist() == [1, 2]
    torch.testing.assert_close(carry.answer[:1], fresh.answer)
    torch.testing.assert_close(carry.answer[1:], continued.answer)
    torch.testing.assert_close(output.logits[1:], continued.logits)


def test_fixed_halting_runs_exactly_n_sup_steps():
    model = small_model(num_supervision_steps=3)
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)  # a learned rule would halt at once
    tokens, labels = random_batch(3)

    carry, output, history = run_to_halt(model, tokens, labels, halting="fixed")

    assert carry.steps.tolist() == [3, 3, 3]
    assert len(history) == 3
    assert [bool(entry["halted"].all()) for entry in history] == [False, False, True]
    assert output.logits.shape == (3, 81, 11)


def test_learned_halting_stops_when_halt_logit_is_positive():
    model = small_model(num_supervision_steps=3)
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)
    tokens, labels = random_batch(3)

    carry, _, history = run_to_halt(model, tokens, labels, halting="learned")

    assert carry.steps.tolist() == [1, 1, 1]
    assert len(history) == 1


def test_learned_halting_freezes_halted_slots():
    model = small_model(num_supervision_steps=4)
    model.q_head = ScriptedHaltHead([1, 3])
    raw_logits = []
    model.lm_head.register_forward_hook(lambda module, args, out: raw_logits.append(out))
    tokens, labels = random_batch(2)
    seen_steps = []

    carry, output, history = run_to_halt(
        model,
        tokens,
        labels,
        halting="learned",
        on_step=lambda step, out, state: seen_steps.append((step, state.steps.tolist())),
    )

    prefix = model.config.puzzle_emb_len
    assert carry.steps.tolist() == [1, 3]
    assert len(history) == 3
    torch.testing.assert_close(output.logits[0], raw_logits[0][0, prefix:].float())
    torch.testing.assert_close(output.logits[1], raw_logits[2][1, prefix:].float())
    assert seen_steps == [(1, [1, 1]), (2, [1, 2]), (3, [1, 3])]
    assert history[1]["halted"].tolist() == [True, False]


def test_max_steps_above_n_sup():
    model = small_model(num_supervision_steps=2)
    tokens, labels = random_batch()

    carry, _, history = run_to_halt(model, tokens, labels, max_steps=5)

    assert carry.steps.tolist() == [5, 5]
    assert len(history) == 5


def test_training_halts_on_positive_logit_without_exploration():
    model = small_model(num_supervision_steps=4, halt_exploration_prob=0.0)
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)
    tokens, labels = random_batch()

    carry, _ = act_step(model, initial_carry(model, 2, "cpu"), tokens, labels, training=True)

    assert carry.halted.all()


def test_eval_fixed_step_ignores_positive_halt_logit():
    model = small_model(num_supervision_steps=4)
    with torch.no_grad():
        model.q_head.bias.fill_(5.0)
    tokens, labels = random_batch()

    carry, _ = act_step(model, initial_carry(model, 2, "cpu"), tokens, labels, training=False)

    assert not carry.halted.any()


def test_training_halts_at_limit_even_with_negative_logit():
    model = small_model(num_supervision_steps=2)
    tokens, labels = random_batch()
    carry = initial_carry(model, 2, "cpu")

    carry, _ = act_step(model, carry, tokens, labels, training=True)
    first_halted = carry.halted.clone()
    carry, _ = act_step(model, carry, tokens, labels, training=True)

    assert not first_halted.any()
    assert carry.halted.all()


def test_exploration_postpones_halting_with_uniform_minimum():
    steps = torch.full((30_000,), 2, dtype=torch.int32)
    logits = torch.ones(30_000)
    generator = torch.Generator().manual_seed(1)

    halted = decide_halting(
        steps,
        logits,
        training=True,
        halting="fixed",
        limit=4,
        exploration_prob=1.0,
        generator=generator,
    )

    # The minimum is uniform on {2, 3, 4}, so a slot at step 2 halts when it drew 2.
    assert halted.float().mean().item() == pytest.approx(1 / 3, abs=0.02)


def test_exploration_probability_sets_fraction_of_postponed_halts():
    steps = torch.ones(30_000, dtype=torch.int32)
    logits = torch.ones(30_000)

    halted = decide_halting(
        steps,
        logits,
        training=True,
        halting="fixed",
        limit=16,
        exploration_prob=0.1,
        generator=torch.Generator().manual_seed(2),
    )

    # Every draw is at least 2, so exactly the exploring slots keep running at step 1.
    assert 1 - halted.float().mean().item() == pytest.approx(0.1, abs=0.01)


def test_exploration_is_reproducible_with_generator():
    steps = torch.full((1000,), 3, dtype=torch.int32)
    logits = torch.ones(1000)

    first = decide_halting(
        steps,
        logits,
        training=True,
        halting="fixed",
        limit=16,
        exploration_prob=0.5,
        generator=torch.Generator().manual_seed(7),
    )
    second = decide_halting(
        steps,
        logits,
        training=True,
        halting="fixed",
        limit=16,
        exploration_prob=0.5,
        generator=torch.Generator().manual_seed(7),
    )

    assert torch.equal(first, second)
    assert 0 < first.sum() < 1000


def test_unknown_halting_mode_raises():
    model = small_model()
    tokens, labels = random_batch()

    with pytest.raises(ValueError, match=r"halting must be one of \['fixed', 'learned'\]"):
        act_step(
            model,
            initial_carry(model, 2, "cpu"),
            tokens,
            labels,
            training=False,
            halting="adaptive",
        )


def test_batch_size_mismatch_raises():
    model = small_model()
    tokens, labels = random_batch(3)

    with pytest.raises(ValueError, match=r"tokens must have shape \[2, 81\]"):
        act_step(model, initial_carry(model, 2, "cpu"), tokens, labels, training=False)


def test_non_positive_max_steps_raises():
    model = small_model()
    tokens, labels = random_batch()

    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        run_to_halt(model, tokens, labels, max_steps=0)
