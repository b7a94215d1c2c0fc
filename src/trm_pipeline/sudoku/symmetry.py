"""Equivalence of puzzles under the augmentation's symmetry group, for leakage reports.

The group is the one :mod:`trm_pipeline.sudoku.augment` samples from: digit relabelling
(9!), transpose (2), band permutations with row permutations inside each band (6^4) and
the same for stacks and columns (6^4); 9! * 2 * 6^8 elements. Two puzzles are equivalent
when one element maps one onto the other, blanks onto blanks.

:func:`find_equivalent` first buckets puzzles by invariants of the group (cheap, fully
vectorized), then confirms candidate pairs with an exact search, so it reports neither
false positives nor false negatives.
"""

from __future__ import annotations

import itertools

import numpy as np
from tqdm.auto import tqdm

from .augment import BAND_PERMS
from .grids import NUM_CELLS, as_batch, as_grid

_PERMS = BAND_PERMS.astype(np.intp)  # [1296, 9]: all band-preserving row permutations
_PERM_LISTS: list[list[int]] = BAND_PERMS.tolist()
_BOX_OF_CELL = np.array([(i // 27) * 3 + (i % 9) // 3 for i in range(NUM_CELLS)], dtype=np.intp)
# The 6 column orders of a 3x3 matrix as flat index maps, for both transposes.
_MATRIX_VIEWS = [
    np.array([[r * 3 + cp[c] for c in range(3)] for r in range(3)]).reshape(9)
    for cp in itertools.permutations(range(3))
] + [
    np.array([[cp[c] * 3 + r for c in range(3)] for r in range(3)]).reshape(9)
    for cp in itertools.permutations(range(3))
]
_INVARIANT_CHUNK = 32_768
KEY_WIDTH = 13


# ----------------------------------------------------------------------------- invariants


def invariant_keys(grids) -> np.ndarray:
    """``[N, 13]`` int64 keys that every element of the group leaves unchanged, so
    equivalent puzzles always have equal keys (unequal keys prove inequivalence):

    - number of givens;
    - per digit ``100 * count + number of boxes holding it``, sorted over digits
      (relabelling permutes digits; every position permutation maps boxes to boxes);
    - per band the sorted given counts of its 3 rows, the bands sorted, and the same for
      stacks and columns; that (rows, columns) pair sorted, since transpose swaps them;
    - the 3x3 matrix of given counts per box, minimized over its 72 images under band
      order, stack order and transpose.
    """
    batch = as_batch(grids)
    out = np.empty((len(batch), KEY_WIDTH), dtype=np.int64)
    for start in range(0, len(batch), _INVARIANT_CHUNK):
        block = batch[start : start + _INVARIANT_CHUNK]
        out[start : start + len(block)] = _invariant_block(block)
    return out


def _sorted_code(a: np.ndarray, b: np.ndarray, c: np.ndarray, base: int) -> np.ndarray:
    """Code of the sorted triple (a, b, c) (elementwise arrays) in the given base."""
    lo = np.minimum(np.minimum(a, b), c)
    hi = np.maximum(np.maximum(a, b), c)
    mid = a + b + c - lo - hi
    return (lo * base + mid) * base + hi


def _band_signature(counts: np.ndarray) -> np.ndarray:
    """``[N, 9]`` line counts -> ``[N]`` code of the sorted bands of sorted counts."""
    counts = counts.astype(np.int64)
    bands = [_sorted_code(counts[:, i], counts[:, i + 1], counts[:, i + 2], 10) for i in (0, 3, 6)]
    return _sorted_code(*bands, 1000)


def _invariant_block(g: np.ndarray) -> np.ndarray:
    n = len(g)
    keys = np.empty((n, KEY_WIDTH), dtype=np.int64)
    mask = (g > 0).view(np.uint8).reshape(n, 9, 9)
    keys[:, 0] = mask.sum(axis=(1, 2), dtype=np.int64)
    # per (puzzle, box, digit) occurrence counts in one bincount
    cell_keys = (np.arange(n, dtype=np.intp) * 90)[:, None] + _BOX_OF_CELL * 10 + g
    per_box = np.bincount(cell_keys.reshape(-1), minlength=90 * n).reshape(n, 9, 10)
    digit_counts = per_box.sum(axis=1)[:, 1:]
    digit_boxes = np.count_nonzero(per_box, axis=1)[:, 1:]
    keys[:, 1:10] = np.sort(digit_counts * 100 + digit_boxes, axis=1)
    rows = _band_signature(mask.sum(axis=2, dtype=np.uint8))
    cols = _band_signature(mask.sum(axis=1, dtype=np.uint8))
    keys[:, 10] = np.minimum(rows, cols)
    keys[:, 11] = np.maximum(rows, cols)
    # box counts [n, 9] (band-major); rows of the matrix are handled by sorting row codes
    boxes = per_box[:, :, 1:].sum(axis=2)
    best = None
    for view in _MATRIX_VIEWS:
        m = boxes[:, view]
        row_codes = [m[:, i] * 100 + m[:, i + 1] * 10 + m[:, i + 2] for i in (0, 3, 6)]
        code = _sorted_code(*row_codes, 1000)
        best = code if best is None else np.minimum(best, code)
    keys[:, 12] = best
    return keys


# ----------------------------------------------------------------------------- exact check


class _Target:
    """Precomputed data for the puzzle that is searched over (the training side)."""

    def __init__(self, grid: np.ndarray):
        g = grid.reshape(9, 9)
        self.variants = []
        for x in (g, g.T):
            col_counts = (x > 0).sum(axis=0)
            # [1296, 9]: given counts of the new columns under each column permutation
            self.variants.append((x.tolist(), col_counts[_PERMS]))


def _matches(target: _Target, b: np.ndarray) -> bool:
    """Is there a group element mapping ``target``'s puzzle onto ``b`` ([81] uint8)?

    For each transpose: the column permutations whose column given counts match b's
    (vectorized), then for each of those a backtracking search over the row permutation,
    row by row, keeping the row given masks equal and a partial digit bijection
    consistent. A digit relabelling only renames digits, so it is found along the way.
    """
    bm = b.reshape(9, 9)
    b_rows = bm.tolist()
    b_codes = [_row_code(row) for row in b_rows]
    b_col_counts = (bm > 0).sum(axis=0)
    for x_rows, col_counts in target.variants:
        for k in np.flatnonzero((col_counts == b_col_counts).all(axis=1)).tolist():
            cp = _PERM_LISTS[k]
            y_rows = [[row[j] for j in cp] for row in x_rows]
            if _match_rows(y_rows, b_rows, b_codes):
                return True
    return False


def _row_code(row: list[int]) -> int:
    code = 0
    for c, v in enumerate(row):
        if v:
            code |= 1 << c
    return code


def _match_rows(y_rows: list[list[int]], b_rows: list[list[int]], b_codes: list[int]) -> bool:
    """Is there a band-preserving row permutation R and a digit bijection f with
    ``f(y_rows[R[r]]) == b_rows[r]`` on every cell (blanks on blanks)?"""
    y_codes = [_row_code(row) for row in y_rows]
    forward = [0] * 10  # y digit -> b digit, 0 = not fixed yet
    backward = [0] * 10  # b digit -> y digit
    used = [False] * 9
    band_used = [False] * 3
    source_band = [0, 0, 0]  # old band placed at each new band

    def unfix(added: list[int]) -> None:
        for u in added:
            backward[forward[u]] = 0
            forward[u] = 0

    def extend(i: int, r: int) -> list[int] | None:
        """Map y row i onto b row r: the digits newly fixed, or None on a clash."""
        added = []
        for v, w in zip(y_rows[i], b_rows[r], strict=True):
            if v:
                fv = forward[v]
                if fv == w:
                    continue
                if fv == 0 and backward[w] == 0:
                    forward[v] = w
                    backward[w] = v
                    added.append(v)
                else:
                    unfix(added)
                    return None
        return added

    def place(r: int) -> bool:
        if r == 9:
            return True
        nb, pos = divmod(r, 3)
        if pos == 0:
            candidates = [i for i in range(9) if not band_used[i // 3]]
        else:
            first = source_band[nb] * 3
            candidates = [i for i in range(first, first + 3) if not used[i]]
        for i in candidates:
            if y_codes[i] != b_codes[r]:
                continue
            added = extend(i, r)
            if added is None:
                continue
            used[i] = True
            if pos == 0:
                source_band[nb] = i // 3
                band_used[i // 3] = True
            if place(r + 1):
                return True
            used[i] = False
            if pos == 0:
                band_used[i // 3] = False
            unfix(added)
        return False

    return place(0)


def are_equivalent(a, b) -> bool:
    """Exact: does an element of the augmentation group map puzzle ``a`` onto ``b``?"""
    a = as_grid(a, "a")
    b = as_grid(b, "b")
    keys = invariant_keys(np.stack([a, b]))
    if not np.array_equal(keys[0], keys[1]):
        return False
    return _matches(_Target(a), b)


def find_equivalent(train_puzzles, test_puzzles, progress: bool = False) -> np.ndarray:
    """For each test puzzle, the index of an equivalent training puzzle, or -1.

    Exact (no false positives or negatives): puzzles are bucketed by
    :func:`invariant_keys`, and every test puzzle that shares a bucket with training
    puzzles is checked against them by an exact search, lowest training index first (so
    that index is returned when several are equivalent). Returns ``[N]`` int64.
    """
    train = as_batch(train_puzzles, "train_puzzles")
    test = as_batch(test_puzzles, "test_puzzles")
    result = np.full(len(test), -1, dtype=np.int64)
    if not len(train) or not len(test):
        return result
    buckets: dict[bytes, list[int]] = {}
    for i, key in enumerate(invariant_keys(train)):
        buckets.setdefault(key.tobytes(), []).append(i)
    test_keys = invariant_keys(test)
    candidates = []
    for j, key in enumerate(test_keys):
        found = buckets.get(key.tobytes())
        if found is not None:
            candidates.append((j, found))
    targets: dict[int, _Target] = {}
    verdicts: dict[tuple[int, bytes], bool] = {}  # repeated test puzzles are checked once
    items = candidates
    if progress:
        items = tqdm(candidates, desc="confirm", unit="puzzle")
    for j, train_ids in items:
        b = test[j]
        b_bytes = b.tobytes()
        for i in train_ids:
            verdict = verdicts.get((i, b_bytes))
            if verdict is None:
                target = targets.get(i)
                if target is None:
                    target = targets[i] = _Target(train[i])
                verdict = verdicts[(i, b_bytes)] = _matches(target, b)
            if verdict:
                result[j] = i
                break
    return result
