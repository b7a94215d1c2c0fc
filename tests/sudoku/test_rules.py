"""Solution checks, given preservation and conflicting cells (trm_pipeline.sudoku.rules)."""

import csv
from pathlib import Path

import numpy as np
import pytest

from trm_pipeline.sudoku import (
    find_conflicts,
    has_conflicts,
    is_valid_solution,
    keeps_givens,
    keeps_givens_batch,
    parse_grids,
    valid_solutions,
)

EXTERNAL_CSV = Path(__file__).resolve().parents[2] / "../shared/data/external_generated_5000.csv"


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    if not EXTERNAL_CSV.is_file():
        pytest.skip(f"external puzzle file missing: {EXTERNAL_CSV}")
    with EXTERNAL_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return parse_grids([r["question"] for r in rows]), parse_grids([r["answer"] for r in rows])


def test_real_answers_are_valid(data):
    puzzles, answers = data
    assert valid_solutions(answers).all()
    assert not valid_solutions(puzzles).any()  # incomplete
    assert is_valid_solution(answers[0])
    assert is_valid_solution(answers[0].reshape(9, 9))
    assert valid_solutions(answers.reshape(-1, 9, 9)).all()


def test_broken_solutions_are_invalid(data):
    _, answers = data
    a = answers[0].copy()
    swapped = a.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # rows stay permutations, columns break
    changed = a.copy()
    changed[40] = changed[40] % 9 + 1
    blanked = a.copy()
    blanked[80] = 0
    # A Latin square whose boxes are not permutations: rows shifted by one.
    latin = np.array([(r + c) % 9 + 1 for r in range(9) for c in range(9)], dtype=np.uint8)
    # The same digit everywhere: boxes, rows and columns all fail.
    ones = np.ones(81, dtype=np.uint8)
    batch = np.stack([a, swapped, changed, blanked, latin, ones])
    assert valid_solutions(batch).tolist() == [True, False, False, False, False, False]
    assert not is_valid_solution(latin)
    # the row/column checks alone pass for the Latin square: only boxes reject it
    assert all(sorted(latin.reshape(9, 9)[:, c]) == list(range(1, 10)) for c in range(9))


def test_keeps_givens(data):
    puzzles, answers = data
    assert keeps_givens_batch(puzzles, answers).all()
    assert keeps_givens(puzzles[3], answers[3])
    wrong = answers[:10].copy()
    given = int(np.flatnonzero(puzzles[0])[0])
    wrong[0, given] = wrong[0, given] % 9 + 1
    result = keeps_givens_batch(puzzles[:10], wrong)
    assert result.tolist() == [False] + [True] * 9
    assert not keeps_givens(puzzles[0], wrong[0])
    # changing a blank cell of the puzzle does not matter for keeps_givens
    blank = int(np.flatnonzero(puzzles[1] == 0)[0])
    other = answers[1].copy()
    other[blank] = other[blank] % 9 + 1
    assert keeps_givens(puzzles[1], other)
    assert keeps_givens(puzzles[1].reshape(9, 9), answers[1].reshape(9, 9))


def test_keeps_givens_shape_errors(data):
    puzzles, answers = data
    with pytest.raises(ValueError, match="differ in shape"):
        keeps_givens_batch(puzzles[:3], answers[:4])
    with pytest.raises(ValueError, match="shape"):
        keeps_givens(puzzles[0][:80], answers[0])


def test_no_conflicts_in_real_data(data):
    puzzles, answers = data
    for i in range(20):
        assert not find_conflicts(puzzles[i]).any()
        assert not find_conflicts(answers[i]).any()
        assert not has_conflicts(puzzles[i])


def _given_cells(puzzle):
    return {int(i) for i in np.flatnonzero(puzzle)}


def test_conflict_cells_row_column_box(data):
    puzzles, _ = data
    empty = np.zeros(81, dtype=np.uint8)

    row = empty.copy()
    row[[2, 7]] = 5  # same row 0
    assert set(np.flatnonzero(find_conflicts(row)).tolist()) == {2, 7}

    col = empty.copy()
    col[[4, 9 * 8 + 4]] = 3  # same column 4
    assert set(np.flatnonzero(find_conflicts(col)).tolist()) == {4, 76}

    box = empty.copy()
    box[[0, 10]] = 9  # (0,0) and (1,1): same box, different row and column
    assert set(np.flatnonzero(find_conflicts(box)).tolist()) == {0, 10}
    assert has_conflicts(box.reshape(9, 9))

    triple = empty.copy()
    triple[[0, 1, 2]] = 1
    triple[[30, 31]] = 2, 3  # different digits: no conflict
    assert set(np.flatnonzero(find_conflicts(triple)).tolist()) == {0, 1, 2}

    # A real puzzle with one blank cell filled by a digit already in its row.
    p = puzzles[0].copy()
    r = next(r for r in range(9) if (p[r * 9 : r * 9 + 9] == 0).any())
    row_cells = np.arange(r * 9, r * 9 + 9)
    blank = int(row_cells[p[row_cells] == 0][0])
    dup_cell = int(row_cells[p[row_cells] > 0][0])
    p[blank] = p[dup_cell]
    conflicts = set(np.flatnonzero(find_conflicts(p)).tolist())
    assert {blank, dup_cell} <= conflicts
    assert conflicts <= _given_cells(p)
    assert has_conflicts(p)


def test_blanks_never_conflict():
    grid = np.zeros(81, dtype=np.uint8)
    assert not find_conflicts(grid).any()
    assert find_conflicts(grid).shape == (81,)
    assert find_conflicts(grid).dtype == bool
