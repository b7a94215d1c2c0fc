"""Validity-preserving augmentation (trm_pipeline.sudoku.augment)."""

import csv
from pathlib import Path

import numpy as np
import pytest

from trm_pipeline.sudoku import (
    SudokuTransforms,
    apply_transforms,
    augment_puzzles,
    augment_puzzles_loop,
    keeps_givens_batch,
    parse_grids,
    random_transforms,
    valid_solutions,
)

EXTERNAL_CSV = Path(__file__).resolve().parents[2] / "../shared/data/external_generated_5000.csv"
NUM_PUZZLES = 300
NUM_AUG = 8


@pytest.fixture(scope="module")
def data():
    if not EXTERNAL_CSV.is_file():
        pytest.skip(f"external puzzle file missing: {EXTERNAL_CSV}")
    with EXTERNAL_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))[:NUM_PUZZLES]
    return parse_grids([r["question"] for r in rows]), parse_grids([r["answer"] for r in rows])


@pytest.fixture(scope="module")
def augmented(data):
    puzzles, answers = data
    return augment_puzzles(puzzles, answers, NUM_AUG, seed=0)


def _naive_apply(grid: np.ndarray, t: SudokuTransforms, n: int) -> np.ndarray:
    """Transform n on one grid, written directly from the definition."""
    x = grid.reshape(9, 9)
    if t.transpose[n]:
        x = x.T
    x = x[t.row_perms[n]][:, t.col_perms[n]]
    return t.digit_maps[n][x].reshape(81)


def test_random_transforms_are_group_elements():
    rng = np.random.default_rng(0)
    t = random_transforms(5000, rng)
    assert len(t) == 5000
    assert t.digit_maps.shape == (5000, 10)
    assert t.transpose.shape == (5000,)
    assert t.row_perms.shape == t.col_perms.shape == (5000, 9)
    assert (t.digit_maps[:, 0] == 0).all()
    assert (np.sort(t.digit_maps[:, 1:], axis=1) == np.arange(1, 10)).all()
    for perms in (t.row_perms, t.col_perms):
        assert (np.sort(perms, axis=1) == np.arange(9)).all()
        bands = perms.reshape(-1, 3, 3) // 3
        assert (bands == bands[:, :, :1]).all()  # each new band comes from one old band
    assert 0.45 < t.transpose.mean() < 0.55
    # every digit lands everywhere, every band/row order shows up
    assert len({tuple(row) for row in t.row_perms.tolist()}) > 1000  # of 1296
    assert {int(d) for d in t.digit_maps[:, 1]} == set(range(1, 10))
    with pytest.raises(ValueError):
        random_transforms(-1, rng)


def test_apply_matches_definition(data):
    puzzles, answers = data
    rng = np.random.default_rng(3)
    t = random_transforms(100, rng)
    assert t.transpose.any()
    assert not t.transpose.all()
    for grids in (puzzles[:100], answers[:100]):
        out = apply_transforms(grids, t)
        assert out.dtype == np.uint8
        assert out.shape == (100, 81)
        for n in range(100):
            assert np.array_equal(out[n], _naive_apply(grids[n], t, n))
    # 9x9 input and a single hand-made transform: transpose only
    ident = SudokuTransforms(
        digit_maps=np.arange(10, dtype=np.uint8)[None],
        transpose=np.array([True]),
        row_perms=np.arange(9, dtype=np.uint8)[None],
        col_perms=np.arange(9, dtype=np.uint8)[None],
    )
    out = apply_transforms(answers[:1].reshape(1, 9, 9), ident)
    assert np.array_equal(out[0].reshape(9, 9), answers[0].reshape(9, 9).T)


def test_apply_rejects_bad_transforms(data):
    puzzles, _ = data
    t = random_transforms(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        apply_transforms(puzzles[:3], t)
    bad = SudokuTransforms(t.digit_maps, t.transpose, t.row_perms.copy(), t.col_perms)
    bad.row_perms[0, 0] = bad.row_perms[0, 1]
    with pytest.raises(ValueError, match="row_perms"):
        apply_transforms(puzzles[:2], bad)
    bad = SudokuTransforms(t.digit_maps.copy(), t.transpose, t.row_perms, t.col_perms)
    bad.digit_maps[1, 0] = 4
    with pytest.raises(ValueError, match="blank"):
        apply_transforms(puzzles[:2], bad)


def test_layout_and_group_indices(data, augmented):
    puzzles, answers = data
    inputs, labels, groups = augmented
    group = 1 + NUM_AUG
    assert inputs.shape == labels.shape == (NUM_PUZZLES * group, 81)
    assert inputs.dtype == labels.dtype == np.uint8
    assert groups.dtype == np.int64
    assert groups.tolist() == [i * group for i in range(NUM_PUZZLES + 1)]
    assert np.array_equal(inputs[groups[:-1]], puzzles)  # first row of each group: original
    assert np.array_equal(labels[groups[:-1]], answers)


def test_augmented_pairs_stay_valid(data, augmented):
    puzzles, _ = data
    inputs, labels, groups = augmented
    assert valid_solutions(labels).all()
    assert keeps_givens_batch(inputs, labels).all()  # puzzle and answer transformed alike
    givens = (inputs > 0).sum(axis=1).reshape(NUM_PUZZLES, 1 + NUM_AUG)
    assert (givens == (puzzles > 0).sum(axis=1)[:, None]).all()  # blanks preserved in count
    # augmentations actually change the grids
    assert not np.array_equal(inputs[1], inputs[0])
    distinct = {row.tobytes() for row in inputs[groups[0] : groups[1]]}
    assert len(distinct) == 1 + NUM_AUG


def test_both_transpose_states_occur(data, augmented):
    """Row/column given-count profiles tell a transposed copy from a plain one."""
    puzzles, _ = data
    inputs, _, _ = augmented
    seen = set()
    for i in range(NUM_PUZZLES):
        p = puzzles[i].reshape(9, 9) > 0
        rows, cols = sorted(p.sum(axis=1)), sorted(p.sum(axis=0))
        if rows == cols:
            continue
        for x in inputs[i * (1 + NUM_AUG) + 1 : (i + 1) * (1 + NUM_AUG)]:
            m = x.reshape(9, 9) > 0
            seen.add("plain" if sorted(m.sum(axis=1)) == rows else "transposed")
            assert sorted(m.sum(axis=1)) in (rows, cols)
    assert seen == {"plain", "transposed"}


def test_seeds(data, augmented):
    puzzles, answers = data
    again = augment_puzzles(puzzles, answers, NUM_AUG, seed=0)
    for x, y in zip(augmented, again, strict=True):
        assert np.array_equal(x, y)
    other = augment_puzzles(puzzles, answers, NUM_AUG, seed=1)
    assert not np.array_equal(other[0], augmented[0])
    assert np.array_equal(other[2], augmented[2])


def test_no_augmentation_and_errors(data):
    puzzles, answers = data
    inputs, labels, groups = augment_puzzles(puzzles[:5], answers[:5], 0, seed=0)
    assert np.array_equal(inputs, puzzles[:5])
    assert np.array_equal(labels, answers[:5])
    assert groups.tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="differ in shape"):
        augment_puzzles(puzzles[:5], answers[:4], 1, seed=0)
    with pytest.raises(ValueError, match="num_aug"):
        augment_puzzles(puzzles[:5], answers[:5], -1, seed=0)
    empty = np.zeros((0, 81), dtype=np.uint8)
    inputs, labels, groups = augment_puzzles(empty, empty, 3, seed=0)
    assert inputs.shape == (0, 81)
    assert groups.tolist() == [0]


def test_large_batch_uses_threads_and_stays_valid(data):
    """Enough rows to split the work over threads and blocks; spot-check the results."""
    puzzles, answers = data
    inputs, labels, groups = augment_puzzles(puzzles[:100], answers[:100], 500, seed=7)
    assert inputs.shape == (100 * 501, 81)
    assert valid_solutions(labels[::97]).all()
    assert keeps_givens_batch(inputs, labels).all()
    assert np.array_equal(inputs[groups[:-1]], puzzles[:100])


def test_loop_baseline_same_semantics(data):
    puzzles, answers = data
    inputs, labels, groups = augment_puzzles_loop(puzzles[:20], answers[:20], 5, seed=0)
    assert inputs.shape == labels.shape == (20 * 6, 81)
    assert inputs.dtype == labels.dtype == np.uint8
    assert groups.tolist() == [i * 6 for i in range(21)]
    assert np.array_equal(inputs[groups[:-1]], puzzles[:20])
    assert valid_solutions(labels).all()
    assert keeps_givens_batch(inputs, labels).all()
    givens = (inputs > 0).sum(axis=1).reshape(20, 6)
    assert (givens == givens[:, :1]).all()
    again = augment_puzzles_loop(puzzles[:20], answers[:20], 5, seed=0)
    assert np.array_equal(again[0], inputs)
