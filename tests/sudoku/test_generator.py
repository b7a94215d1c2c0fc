"""Puzzle generation (trm_pipeline.sudoku.generator)."""

import numpy as np
import pytest

from trm_pipeline.sudoku import (
    generate_puzzles,
    keeps_givens_batch,
    solve,
    valid_solutions,
)


@pytest.fixture(scope="module")
def generated():
    return generate_puzzles(12, seed=0)


def test_puzzles_have_unique_solutions(generated):
    puzzles, solutions, ratings = generated
    assert puzzles.shape == solutions.shape == (12, 81)
    assert puzzles.dtype == solutions.dtype == np.uint8
    assert ratings.shape == (12,)
    assert ratings.dtype == np.int32
    assert valid_solutions(solutions).all()
    assert keeps_givens_batch(puzzles, solutions).all()
    for p, s, rating in zip(puzzles, solutions, ratings, strict=True):
        result = solve(p, max_solutions=3)
        assert result.num_solutions == 1
        assert np.array_equal(result.solution, s)
        assert rating == solve(p).guesses


def test_givens_within_range(generated):
    puzzles, _, _ = generated
    givens = (puzzles > 0).sum(axis=1)
    assert givens.min() >= 22
    assert givens.max() <= 36
    assert len(set(givens.tolist())) > 3  # targets are drawn per puzzle


def test_exact_givens_and_narrow_ranges():
    puzzles, solutions, _ = generate_puzzles(3, min_givens=30, max_givens=30, seed=4)
    assert ((puzzles > 0).sum(axis=1) == 30).all()
    full, sol, ratings = generate_puzzles(2, min_givens=81, max_givens=81, seed=1)
    assert np.array_equal(full, sol)
    assert (ratings == 0).all()
    assert valid_solutions(solutions).all()


def test_same_seed_same_output_different_seed_differs(generated):
    again = generate_puzzles(12, seed=0)
    for x, y in zip(generated, again, strict=True):
        assert np.array_equal(x, y)
    other = generate_puzzles(12, seed=1)
    assert not np.array_equal(generated[0], other[0])
    assert not np.array_equal(generated[1], other[1])


def test_solutions_are_diverse(generated):
    _, solutions, _ = generated
    assert len({s.tobytes() for s in solutions}) == len(solutions)
    assert len({s[:9].tobytes() for s in solutions}) > 1  # not all from one first row


def test_zero_count():
    puzzles, solutions, ratings = generate_puzzles(0)
    assert puzzles.shape == (0, 81)
    assert solutions.shape == (0, 81)
    assert ratings.shape == (0,)


def test_progress_bar(capsys):
    generate_puzzles(1, min_givens=40, max_givens=40, progress=True)
    assert "generate" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"count": -1}, ValueError, "count must be >= 0"),
        ({"count": 1, "min_givens": 16}, ValueError, "17 <= min_givens"),
        ({"count": 1, "min_givens": 30, "max_givens": 25}, ValueError, "min_givens=30"),
        ({"count": 1, "max_givens": 82}, ValueError, "max_givens=82"),
        ({"count": 1.5}, TypeError, "count must be an int"),
        ({"count": 1, "max_attempts": 0}, ValueError, "max_attempts"),
    ],
)
def test_argument_errors(kwargs, error, message):
    with pytest.raises(error, match=message):
        generate_puzzles(**kwargs)


def test_impossible_target_raises_clear_error():
    with pytest.raises(RuntimeError, match="could not reach 17 givens"):
        generate_puzzles(1, min_givens=17, max_givens=17, max_attempts=1)
