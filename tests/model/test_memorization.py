"""A tiny TRM trained with the full ACT loop memorizes eight real puzzles on CPU."""

import functools

import pytest
import torch

from trm_pipeline.model import (
    AdamATan2,
    SignSGD,
    TinyRecursiveModel,
    TRMConfig,
    act_loss,
    act_step,
    dense_parameters,
    initial_carry,
    learning_rate_factor,
    run_to_halt,
    task_parameters,
)

# The first eight rows of the external Sudoku-Extreme-format CSV: (question, solution).
PUZZLES = [
    (
        "..89....5.....8..69...573.81.........57....6.68...3..1.96.4.7..731.........5.....",
        "318962475475138296962457318143695827257814963689723541596341782731289654824576139",
    ),
    (
        "..5.....38....9..2.93...1.....276...2...9..5....8........95..6..19..2..8.6..3....",
        "625187493841369572793524186158276349276493851934815627387951264519642738462738915",
    ),
    (
        "...63..4....4.1..2.1.52..9.234......1892...3..5..........1..8..82394..6........2.",
        "572639148398471652416528397234716985189254736657893214945162873823947561761385429",
    ),
    (
        "..6......4..7..31..7...12....4......5........16..4.7.5.2...81.73..6...5...5.1..2.",
        "916382574452796318873451296234875961597163482168249735629538147341627859785914623",
    ),
    (
        "9......27..819..5...3..68..5673....8..18.....8...1.7.3.............31..9.96......",
        "914583627678192354253476891567349218321867945849215763735924186482631579196758432",
    ),
    (
        ".6...83.1...5...72..72.1......8..7.....36....6....2.95......2...8.659.....1....5.",
        "562978341318546972947231586125894763879365124634712895456187239283659417791423658",
    ),
    (
        ".2..93................1...52.56....43....5..9.9.174.5..7.......5..2..3....6...74.",
        "721593486953486127864712935215639874347825619698174253472361598589247361136958742",
    ),
    (
        "....4351......9..639..1.4.....1.6.28....9...5.....4...5.3..2...96........4183....",
        "826743519714529836395618472439156728182397645657284391573962184968471253241835967",
    ),
]
MAX_STEPS = 400
EVAL_EVERY = 25


def encode(grid: str) -> list[int]:
    """Map '.' to the blank token 1 and digit d to d + 1."""
    return [1 if char == "." else int(char) + 1 for char in grid]


def exact_accuracy(model: TinyRecursiveModel, tokens, labels) -> float:
    model.eval()
    _, output, _ = run_to_halt(model, tokens, labels, halting="learned")
    model.train()
    return (output.logits.argmax(-1) == labels).all(-1).float().mean().item()


@pytest.fixture
def single_thread():
    """Run on one thread, because tiny matrices gain nothing from thread hand-offs."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_tiny_model_memorizes_eight_puzzles():
    torch.manual_seed(0)
    tokens = torch.tensor([encode(question) for question, _ in PUZZLES])
    labels = torch.tensor([encode(solution) for _, solution in PUZZLES])
    config = TRMConfig(
        hidden_size=64,
        num_heads=4,
        num_deep_recursions=2,
        num_latent_steps=2,
        num_supervision_steps=2,
        puzzle_emb_len=4,
        forward_dtype="float32",
    )
    model = TinyRecursiveModel(config)
    dense = AdamATan2(dense_parameters(model), lr=3e-3, weight_decay=0.0)
    task = SignSGD(task_parameters(model), lr=3e-3)
    schedule = functools.partial(
        learning_rate_factor, warmup_steps=20, total_steps=300, min_ratio=0.1, schedule="cosine"
    )
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, schedule) for opt in (dense, task)]
    carry = initial_carry(model, len(PUZZLES), "cpu")
    accuracy, steps_taken = 0.0, 0

    for step in range(1, MAX_STEPS + 1):
        carry, output = act_step(model, carry, tokens, labels, training=True)
        loss, _ = act_loss(output, carry)
        (loss / len(PUZZLES)).backward()
        for optimizer in (dense, task):
            optimizer.step()
            optimizer.zero_grad()
        for scheduler in schedulers:
            scheduler.step()
        if step % EVAL_EVERY == 0:
            accuracy, steps_taken = exact_accuracy(model, tokens, labels), step
            if accuracy == 1.0:
                break

    # The halting head learns to stop once the prediction is right, so evaluation reads each
    # puzzle's prediction at its own halting step.
    assert accuracy == 1.0, f"exact accuracy {accuracy} after {steps_taken} steps"
    assert torch.isfinite(loss)
