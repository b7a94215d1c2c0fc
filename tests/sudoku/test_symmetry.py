"""Exact equivalence under the augmentation group (trm_pipeline.sudoku.symmetry)."""

import csv
from pathlib import Path

import numpy as np
import pytest

from trm_pipeline.sudoku import (
    apply_transforms,
    are_equivalent,
    find_equivalent,
    invariant_keys,
    parse_grids,
    random_transforms,
)
from trm_pipeline.sudoku.augment import BAND_PERMS
from trm_pipeline.sudoku.symmetry import _matches, _Target

EXTERNAL_CSV = Path(__file__).resolve().parents[2] / "../shared/data/external_generated_5000.csv"


@pytest.fixture(scope="module")
def data():
    if not EXTERNAL_CSV.is_file():
        pytest.skip(f"external puzzle file missing: {EXTERNAL_CSV}")
    with EXTERNAL_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return parse_grids([r["question"] for r in rows]), parse_grids([r["answer"] for r in rows])


def _reference_equivalent(a: np.ndarray, b: np.ndarray) -> bool:
    """Independent brute-force oracle: all 2 x 1296 x 1296 position maps, filtered by the
    given masks, then a digit-bijection check. Fine for puzzles (sparse masks)."""
    perms = BAND_PERMS.astype(np.intp)
    bm = b.reshape(9, 9) > 0
    given = np.flatnonzero(b)
    y = b[given]
    for x in (a.reshape(9, 9), a.reshape(9, 9).T):
        xm = x > 0
        for rp in perms:
            rows = xm[rp]
            if not (rows.sum(axis=1) == bm.sum(axis=1)).all():
                continue
            ok = (rows[:, perms] == bm[:, None, :]).all(axis=(0, 2))  # [1296] column perms
            for cp in perms[ok]:
                xs = x[rp][:, cp].reshape(81)[given]
                pairs = set(zip(xs.tolist(), y.tolist(), strict=True))
                if len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs}):
                    return True
    return False


def _near_miss(b: np.ndarray) -> np.ndarray | None:
    """Swap the digits of two givens in one box: same mask, same digit counts, same
    boxes per digit, so every invariant agrees, but it is a different puzzle."""
    g = b.reshape(9, 9)
    for br in range(3):
        for bc in range(3):
            cells = [(r, c) for r in range(br * 3, br * 3 + 3) for c in range(bc * 3, bc * 3 + 3)]
            filled = [(r, c) for r, c in cells if g[r, c]]
            if len(filled) >= 2:
                out = g.copy()
                (r1, c1), (r2, c2) = filled[:2]
                out[r1, c1], out[r2, c2] = g[r2, c2], g[r1, c1]
                return out.reshape(81)
    return None


def test_transforms_are_equivalent(data):
    puzzles, _ = data
    rng = np.random.default_rng(0)
    t = random_transforms(60, rng)
    assert t.transpose.any()
    assert not t.transpose.all()
    moved = apply_transforms(puzzles[:60], t)
    keys_a, keys_b = invariant_keys(puzzles[:60]), invariant_keys(moved)
    assert np.array_equal(keys_a, keys_b)
    for a, b in zip(puzzles[:60], moved, strict=True):
        assert are_equivalent(a, b)
        assert are_equivalent(b, a)
    assert are_equivalent(puzzles[0], puzzles[0])
    assert are_equivalent(puzzles[0].reshape(9, 9), moved[0].reshape(9, 9))


def test_unrelated_puzzles_are_not(data):
    puzzles, _ = data
    for i in range(0, 80, 2):
        assert not are_equivalent(puzzles[i], puzzles[i + 1])


def test_near_misses_agree_with_brute_force(data):
    puzzles, _ = data
    rng = np.random.default_rng(1)
    t = random_transforms(12, rng)
    moved = apply_transforms(puzzles[100:112], t)
    checked = 0
    for a, b in zip(puzzles[100:112], moved, strict=True):
        miss = _near_miss(b)
        assert miss is not None
        # same invariants, so only the exact search can tell them apart
        assert np.array_equal(invariant_keys(a[None]), invariant_keys(miss[None]))
        assert are_equivalent(a, miss) == _reference_equivalent(a, miss)
        assert are_equivalent(a, b)
        assert _reference_equivalent(a, b)
        assert not are_equivalent(a, miss)
        checked += 1
    assert checked == 12
    for i in range(200, 206):
        assert are_equivalent(puzzles[i], puzzles[i + 1]) == _reference_equivalent(
            puzzles[i], puzzles[i + 1]
        )


def test_exact_search_needs_a_bijection(data):
    """Merging two digits keeps the mask: a map that is a function but not one-to-one
    must not count (the invariants would reject it first, so call the search directly)."""
    puzzles, _ = data
    t = random_transforms(5, np.random.default_rng(4))
    moved = apply_transforms(puzzles[300:305], t)
    for a, b in zip(puzzles[300:305], moved, strict=True):
        assert _matches(_Target(a), b)
        digits = sorted({int(v) for v in b if v})
        merged = b.copy()
        merged[merged == digits[0]] = digits[1]  # two digits become one
        assert not _matches(_Target(a), merged)
        assert not _reference_equivalent(a, merged)
        split = a.copy()  # and the other direction: one digit would map to two
        assert not _matches(_Target(merged), split)


def test_full_grids(data):
    """Solution grids share every invariant, so this exercises the exact search alone."""
    _, answers = data
    t = random_transforms(3, np.random.default_rng(2))
    moved = apply_transforms(answers[:3], t)
    for a, b in zip(answers[:3], moved, strict=True):
        assert are_equivalent(a, b)
    assert not are_equivalent(answers[0], answers[1])
    swapped = moved[0].copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # no longer a valid grid: not equivalent
    assert not are_equivalent(answers[0], swapped)


def test_find_equivalent_planted(data):
    puzzles, _ = data
    rng = np.random.default_rng(5)
    train = puzzles[:1000]
    sources = rng.integers(0, len(train), size=400)
    planted = apply_transforms(train[sources], random_transforms(len(sources), rng))
    unrelated = puzzles[1000:3000]
    near = np.stack([_near_miss(p) for p in planted[:100]])
    test = np.concatenate([planted, unrelated, near])
    expected = np.concatenate([sources, np.full(len(unrelated) + len(near), -1)])
    order = rng.permutation(len(test))
    result = find_equivalent(train, test[order])
    assert result.dtype == np.int64
    assert result.shape == (len(test),)
    assert np.array_equal(result, expected[order])


def test_find_equivalent_duplicates_and_edges(data):
    puzzles, _ = data
    train = np.concatenate([puzzles[:10], puzzles[3:4]])  # index 10 duplicates index 3
    t = random_transforms(2, np.random.default_rng(9))
    test = np.concatenate([apply_transforms(puzzles[[3, 7]], t), puzzles[50:52], puzzles[3:4]])
    result = find_equivalent(train, test, progress=True)
    assert result.tolist() == [3, 7, -1, -1, 3]  # lowest equivalent training index
    empty = np.zeros((0, 81), dtype=np.uint8)
    assert find_equivalent(empty, test).tolist() == [-1] * 5
    assert find_equivalent(train, empty).shape == (0,)
