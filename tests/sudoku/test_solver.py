"""The exact solver (trm_pipeline.sudoku.solver) on real and constructed puzzles."""

import csv
from pathlib import Path

import numpy as np
import pytest

from trm_pipeline.sudoku import (
    SolveResult,
    format_grid,
    has_conflicts,
    is_valid_solution,
    keeps_givens,
    parse_grid,
    parse_grids,
    solve,
    solve_many,
)

EXTERNAL_CSV = Path(__file__).resolve().parents[2] / "../shared/data/external_generated_5000.csv"

# Arto Inkala's 2012 "world's hardest Sudoku" and his "AI Escargot" (2006), with their
# published unique solutions.
INKALA_2012 = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."
INKALA_2012_SOLUTION = (
    "812753649943682175675491283154237896369845721287169534521974368438526917796318452"
)
AI_ESCARGOT = "1....7.9..3..2...8..96..5....53..9...1..8...26....4...3......1..4......7..7...3.."
AI_ESCARGOT_SOLUTION = (
    "162857493534129678789643521475312986913586742628794135356478219241935867897261354"
)


@pytest.fixture(scope="module")
def data():
    if not EXTERNAL_CSV.is_file():
        pytest.skip(f"external puzzle file missing: {EXTERNAL_CSV}")
    with EXTERNAL_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    puzzles = parse_grids([r["question"] for r in rows])
    answers = parse_grids([r["answer"] for r in rows])
    ratings = np.array([int(r["rating"]) for r in rows])
    return puzzles, answers, ratings


def test_200_real_puzzles(data):
    puzzles, answers, _ = data
    for p, a in zip(puzzles[:200], answers[:200], strict=True):
        result = solve(p)
        assert isinstance(result, SolveResult)
        assert result.num_solutions == 1
        assert result.solution is not None
        assert result.solution.dtype == np.uint8
        assert np.array_equal(result.solution, a)
        assert result.guesses >= 0


def test_solve_many_matches_solve(data):
    puzzles, answers, _ = data
    results = solve_many(puzzles[200:260])
    assert len(results) == 60
    for r, p, a in zip(results, puzzles[200:260], answers[200:260], strict=True):
        single = solve(p)
        assert r.num_solutions == single.num_solutions == 1
        assert np.array_equal(r.solution, a)
        assert r.guesses == single.guesses  # deterministic


def test_solve_many_progress_bar(data, capsys):
    puzzles, answers, _ = data
    results = solve_many(puzzles[:5], progress=True)
    assert all(np.array_equal(r.solution, a) for r, a in zip(results, answers[:5], strict=True))
    assert "solve" in capsys.readouterr().err


def test_hardest_rows_of_the_file(data):
    puzzles, answers, ratings = data
    hardest = np.argsort(ratings)[-10:]
    for i in hardest:
        result = solve(puzzles[i])
        assert result.num_solutions == 1
        assert np.array_equal(result.solution, answers[i])
    # the file's hardest puzzles need more search than its easiest
    easiest = np.argsort(ratings)[:10]
    hard_guesses = np.mean([solve(puzzles[i]).guesses for i in hardest])
    easy_guesses = np.mean([solve(puzzles[i]).guesses for i in easiest])
    assert hard_guesses > easy_guesses


@pytest.mark.parametrize(
    ("puzzle", "solution"),
    [(INKALA_2012, INKALA_2012_SOLUTION), (AI_ESCARGOT, AI_ESCARGOT_SOLUTION)],
)
def test_famous_hard_puzzles(puzzle, solution):
    result = solve(parse_grid(puzzle))
    assert result.num_solutions == 1
    assert format_grid(result.solution) == solution
    assert result.guesses > 0  # singles alone do not crack these
    assert solve(parse_grid(puzzle).reshape(9, 9)).num_solutions == 1


def _deadly_rectangle(answer: np.ndarray) -> list[int] | None:
    """Four cells (r1,c1),(r1,c2),(r2,c1),(r2,c2) in two boxes holding a,b / b,a:
    blanking them leaves exactly two solutions."""
    g = answer.reshape(9, 9)
    for r1 in range(9):
        for r2 in range(r1 + 1, (r1 // 3) * 3 + 3):  # same band: the 4 cells span 2 boxes
            for c1 in range(9):
                for c2 in range(c1 + 1, 9):
                    if c1 // 3 == c2 // 3:
                        continue
                    if g[r1, c1] == g[r2, c2] and g[r1, c2] == g[r2, c1]:
                        return [r1 * 9 + c1, r1 * 9 + c2, r2 * 9 + c1, r2 * 9 + c2]
    return None


def test_puzzle_with_exactly_two_solutions(data):
    _, answers, _ = data
    for answer in answers[:200]:
        cells = _deadly_rectangle(answer)
        if cells is not None:
            break
    else:
        pytest.fail("no deadly rectangle in the first 200 answers")
    puzzle = answer.copy()
    puzzle[cells] = 0
    result = solve(puzzle)
    assert result.num_solutions == 2
    assert is_valid_solution(result.solution)
    assert keeps_givens(puzzle, result.solution)
    # counting further finds exactly two: the answer and the one with the rectangle swapped
    assert solve(puzzle, max_solutions=10).num_solutions == 2
    assert solve(puzzle, max_solutions=1).num_solutions == 1


def test_removing_givens_of_real_puzzle_breaks_uniqueness(data):
    puzzles, _, _ = data
    puzzle = puzzles[0].copy()
    rng = np.random.default_rng(0)
    for cell in rng.permutation(np.flatnonzero(puzzle)):
        puzzle[cell] = 0
        result = solve(puzzle)
        if result.num_solutions == 2:
            break
    else:
        pytest.fail("removing every given never gave two solutions")
    assert is_valid_solution(result.solution)
    assert keeps_givens(puzzle, result.solution)
    # the empty grid has many solutions too
    empty = solve(np.zeros(81, dtype=np.uint8))
    assert empty.num_solutions == 2
    assert is_valid_solution(empty.solution)


def test_contradictory_puzzles():
    repeated = np.zeros(81, dtype=np.uint8)
    repeated[[0, 5]] = 7  # conflicting givens
    assert has_conflicts(repeated)
    result = solve(repeated)
    assert result.num_solutions == 0
    assert result.solution is None

    # No conflict among the givens, but cell (0, 8) has no candidate left.
    stuck = np.zeros(81, dtype=np.uint8)
    stuck[0:8] = [1, 2, 3, 4, 5, 6, 7, 8]
    stuck[9 * 4 + 8] = 9
    assert not has_conflicts(stuck)
    result = solve(stuck)
    assert result.num_solutions == 0
    assert result.solution is None


def test_contradiction_found_by_search(data):
    """A valid-looking puzzle that only search proves unsolvable: a real puzzle with one
    blank filled by a wrong digit that creates no conflict."""
    puzzles, answers, _ = data
    for p, a in zip(puzzles[:50], answers[:50], strict=True):
        for cell in np.flatnonzero(p == 0):
            for digit in range(1, 10):
                if digit == a[cell]:
                    continue
                q = p.copy()
                q[cell] = digit
                if not has_conflicts(q):
                    result = solve(q)
                    assert result.num_solutions == 0
                    assert result.solution is None
                    return
    pytest.fail("no candidate wrong digit found")


def test_trivial_cases(data):
    _, answers, _ = data
    solved = solve(answers[0])
    assert solved.num_solutions == 1
    assert solved.guesses == 0
    assert np.array_equal(solved.solution, answers[0])
    one_blank = answers[1].copy()
    one_blank[40] = 0
    result = solve(one_blank)
    assert result.num_solutions == 1
    assert result.guesses == 0
    assert np.array_equal(result.solution, answers[1])


def test_argument_errors():
    with pytest.raises(ValueError, match="max_solutions"):
        solve(np.zeros(81, dtype=np.uint8), max_solutions=0)
    with pytest.raises(ValueError, match="shape"):
        solve(np.zeros(80, dtype=np.uint8))
    with pytest.raises(ValueError):
        solve(np.full(81, 12))


def test_solve_many_matches_answers(data):
    # Throughput is measured in benchmarks/bench_data.py.
    puzzles, answers, _ = data
    results = solve_many(puzzles[:1000])
    assert all(r.num_solutions == 1 for r in results)
    assert all(np.array_equal(r.solution, a) for r, a in zip(results, answers[:1000], strict=True))
