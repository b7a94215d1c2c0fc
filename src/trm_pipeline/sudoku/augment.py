"""Validity-preserving Sudoku augmentation (the TRM reference's), vectorized over batches.

One transform is: relabel the digits (a permutation of 1..9, blank stays blank), maybe
transpose, then permute the rows (shuffle the 3 bands, then the 3 rows inside each band)
and the columns (stacks, then columns inside each stack). Each maps a valid solution to a
valid solution; applying the same transform to a puzzle and its answer keeps them a pair.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .grids import NUM_CELLS, as_batch

_PERM3 = np.array(list(itertools.permutations(range(3))), dtype=np.uint8)  # [6, 3]
_CHUNK_ROWS = 16_384  # rows per block in apply: keeps the intp index arrays ~10 MB
_MAX_THREADS = 4


@dataclass
class SudokuTransforms:
    """A batch of N transforms.

    digit_maps: ``[N, 10]`` uint8, ``digit_maps[n, d]`` is the new digit for ``d``;
        column 0 is 0 (blanks stay blank) and columns 1..9 are a permutation of 1..9.
    transpose: ``[N]`` bool, transpose the grid first.
    row_perms: ``[N, 9]`` uint8, new row ``r`` is old row ``row_perms[n, r]``.
    col_perms: ``[N, 9]`` uint8, new column ``c`` is old column ``col_perms[n, c]``.
    """

    digit_maps: np.ndarray
    transpose: np.ndarray
    row_perms: np.ndarray
    col_perms: np.ndarray

    def __len__(self) -> int:
        return len(self.transpose)

    def __getitem__(self, index) -> SudokuTransforms:
        """A sub-batch (slice, index array or mask), still a SudokuTransforms."""
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 if index != -1 else None)
        return SudokuTransforms(
            self.digit_maps[index],
            self.transpose[index],
            self.row_perms[index],
            self.col_perms[index],
        )


def _band_perm_table() -> np.ndarray:
    """``[1296, 9]`` uint8: every row permutation that keeps bands together."""
    bands = _PERM3[:, None, None, None, :]  # which old band goes to new band 0, 1, 2
    inner = np.stack(
        np.broadcast_arrays(
            _PERM3[None, :, None, None], _PERM3[None, None, :, None], _PERM3[None, None, None, :]
        ),
        axis=-2,
    )  # [1, 6, 6, 6, 3 bands, 3 rows]
    table = bands[..., :, None] * 3 + inner
    return np.broadcast_to(table, (6, 6, 6, 6, 3, 3)).reshape(-1, 9).astype(np.uint8)


BAND_PERMS = _band_perm_table()


@functools.cache
def _digit_perm_table() -> np.ndarray:
    """``[9!, 9]`` uint8: every permutation of 1..9 (3.3 MB, built once on first use)."""
    perms = np.zeros((1, 0), dtype=np.uint8)
    for k in range(1, 10):  # insert digit k at every position of each permutation of 1..k-1
        perms = np.concatenate([np.insert(perms, pos, k, axis=1) for pos in range(k)])
    return perms


def random_transforms(count: int, rng: np.random.Generator) -> SudokuTransforms:
    """Draw ``count`` transforms uniformly from the group (each part independently):
    digit relabelling uniform over the 9! permutations, transpose with probability 0.5,
    row and column permutations uniform over the 6^4 band-preserving ones."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be an int >= 0, got {count!r}")
    digit_maps = np.zeros((count, 10), dtype=np.uint8)
    table = _digit_perm_table()
    digit_maps[:, 1:] = np.take(table, rng.integers(0, len(table), size=count), axis=0)
    transpose = rng.random(count) < 0.5
    row_perms = np.take(BAND_PERMS, rng.integers(0, len(BAND_PERMS), size=count), axis=0)
    col_perms = np.take(BAND_PERMS, rng.integers(0, len(BAND_PERMS), size=count), axis=0)
    return SudokuTransforms(digit_maps, transpose, row_perms, col_perms)


def _apply_rows(
    flats: list[np.ndarray],
    source_rows: np.ndarray,
    t: SudokuTransforms,
    outs: list[np.ndarray],
    *,
    start: int,
    stop: int,
) -> None:
    """Rows ``start:stop`` of :func:`_apply_into`, in blocks of ``_CHUNK_ROWS``.

    New (r, c) copies old (row_perm[r], col_perm[c]) of the (maybe transposed) grid: old
    flat cell ``row_perm[r] * 9 + col_perm[c]``, or ``col_perm[c] * 9 + row_perm[r]`` when
    transposed, so the flat source index is a broadcast sum ``a[r] + b[c]``. Indices are
    valid by construction, hence ``mode="clip"`` (the default "raise" checks and buffers).
    """
    size = min(stop - start, _CHUNK_ROWS)
    index_buf = np.empty((size, NUM_CELLS), dtype=np.intp)
    map_buf = np.empty((size, NUM_CELLS), dtype=np.intp)
    moved_buf = np.empty((size, NUM_CELLS), dtype=np.uint8)
    flat_maps = t.digit_maps.reshape(-1)
    for lo in range(start, stop, _CHUNK_ROWS):
        hi = min(lo + _CHUNK_ROWS, stop)
        m = hi - lo
        rp = t.row_perms[lo:hi].astype(np.intp)
        cp = t.col_perms[lo:hi].astype(np.intp)
        tr = t.transpose[lo:hi, None]
        a = np.where(tr, rp, rp * 9)
        a += (source_rows[lo:hi].astype(np.intp) * NUM_CELLS)[:, None]
        b = np.where(tr, cp * 9, cp)
        index = index_buf[:m]
        np.add(a[:, :, None], b[:, None, :], out=index.reshape(m, 9, 9))
        # digit map: new value = digit_maps[n, v] = flat_maps[n * 10 + v]
        map_offset = (np.arange(lo, hi, dtype=np.intp) * 10)[:, None]
        for flat, out in zip(flats, outs, strict=True):
            moved = np.take(flat, index, out=moved_buf[:m], mode="clip")
            np.add(moved, map_offset, out=map_buf[:m])
            np.take(flat_maps, map_buf[:m], out=out[lo:hi], mode="clip")


def _apply_into(
    sources: list[np.ndarray],
    source_rows: np.ndarray,
    t: SudokuTransforms,
    outs: list[np.ndarray],
) -> None:
    """``outs[k][n] = transform n applied to sources[k][source_rows[n]]`` for every n.

    Flat ``np.take`` with one index shared by all arrays (faster than take_along_axis,
    which goes through generic fancy indexing); large batches are split over threads
    (numpy releases the GIL in ``take`` and ufuncs).
    """
    n = len(t)
    flats = [np.ascontiguousarray(s).reshape(-1) for s in sources]
    workers = max(1, min(_MAX_THREADS, os.cpu_count() or 1, n // _CHUNK_ROWS))
    if workers == 1:
        _apply_rows(flats, source_rows, t, outs, start=0, stop=n)
        return
    bounds = np.linspace(0, n, workers + 1).astype(int).tolist()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_apply_rows, flats, source_rows, t, outs, start=lo, stop=hi)
            for lo, hi in itertools.pairwise(bounds)
        ]
        for f in futures:
            f.result()


def _check_transforms(t: SudokuTransforms, n: int) -> None:
    if not isinstance(t, SudokuTransforms):
        raise TypeError(f"expected SudokuTransforms, got {type(t).__name__}")
    shapes = {
        "digit_maps": (t.digit_maps, (n, 10)),
        "transpose": (t.transpose, (n,)),
        "row_perms": (t.row_perms, (n, 9)),
        "col_perms": (t.col_perms, (n, 9)),
    }
    for name, (arr, shape) in shapes.items():
        if np.shape(arr) != shape:
            raise ValueError(f"transforms.{name} must have shape {shape}, got {np.shape(arr)}")
    maps = np.asarray(t.digit_maps)
    if n and (maps[:, 0] != 0).any():
        raise ValueError("transforms.digit_maps[:, 0] must be 0 (blanks stay blank)")
    expected = np.arange(1, 10)
    if n and (np.sort(maps[:, 1:], axis=1) != expected).any():
        raise ValueError("transforms.digit_maps[:, 1:] must be permutations of 1..9")
    for name in ("row_perms", "col_perms"):
        perms = np.asarray(getattr(t, name))
        if n and (np.sort(perms, axis=1) != np.arange(9)).any():
            raise ValueError(f"transforms.{name} rows must be permutations of 0..8")


def apply_transforms(grids, transforms: SudokuTransforms) -> np.ndarray:
    """Apply transform ``n`` to grid ``n`` of a ``[N, 81]`` batch.

    Transpose first (where set), then new cell (r, c) = old cell (row_perm[r],
    col_perm[c]), then the digit map.
    """
    batch = as_batch(grids)
    _check_transforms(transforms, len(batch))
    t = SudokuTransforms(
        np.ascontiguousarray(transforms.digit_maps, dtype=np.uint8),
        np.asarray(transforms.transpose, dtype=bool),
        np.asarray(transforms.row_perms),
        np.asarray(transforms.col_perms),
    )
    out = np.empty_like(batch)
    _apply_into([batch], np.arange(len(batch)), t, [out])
    return out


def _check_pair(puzzles, answers, num_aug: int) -> tuple[np.ndarray, np.ndarray]:
    p = as_batch(puzzles, "puzzles")
    a = as_batch(answers, "answers")
    if p.shape != a.shape:
        raise ValueError(f"puzzles {p.shape} and answers {a.shape} differ in shape")
    if isinstance(num_aug, bool) or not isinstance(num_aug, (int, np.integer)) or num_aug < 0:
        raise ValueError(f"num_aug must be an int >= 0, got {num_aug!r}")
    return p, a


def augment_puzzles(
    puzzles, answers, num_aug: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each puzzle followed by ``num_aug`` random transforms of it (answers alike).

    Returns ``(inputs [N*(1+num_aug), 81], labels [same], group_indices [N+1] int64)``:
    rows ``group_indices[i]:group_indices[i+1]`` belong to puzzle ``i`` and the first of
    them is the original. Deterministic in ``seed`` (``np.random.default_rng(seed)``).
    """
    p, a = _check_pair(puzzles, answers, num_aug)
    n = len(p)
    group = 1 + int(num_aug)
    rng = np.random.default_rng(seed)
    drawn = random_transforms(n * int(num_aug), rng)
    # One transform per output row: the identity on each group's first row (the
    # original), the drawn ones on the others. Then one pass writes everything in place.
    total = n * group
    is_aug = np.ones(total, dtype=bool)
    is_aug[::group] = False
    ident = np.arange(9, dtype=np.uint8)
    full = SudokuTransforms(
        digit_maps=np.tile(np.arange(10, dtype=np.uint8), (total, 1)),
        transpose=np.zeros(total, dtype=bool),
        row_perms=np.tile(ident, (total, 1)),
        col_perms=np.tile(ident, (total, 1)),
    )
    full.digit_maps[is_aug] = drawn.digit_maps
    full.transpose[is_aug] = drawn.transpose
    full.row_perms[is_aug] = drawn.row_perms
    full.col_perms[is_aug] = drawn.col_perms
    inputs = np.empty((total, NUM_CELLS), dtype=np.uint8)
    labels = np.empty((total, NUM_CELLS), dtype=np.uint8)
    source_rows = np.repeat(np.arange(n), group)
    _apply_into([p, a], source_rows, full, [inputs, labels])
    group_indices = np.arange(n + 1, dtype=np.int64) * group
    return inputs, labels, group_indices


def _shuffle_pair_loop(
    board: np.ndarray, solution: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One random transform of one 9x9 pair, drawn and applied the reference's way."""
    digit_map = np.pad(rng.permutation(np.arange(1, 10)), (1, 0))
    transpose_flag = rng.random() < 0.5
    bands = rng.permutation(3)
    row_perm = np.concatenate([b * 3 + rng.permutation(3) for b in bands])
    stacks = rng.permutation(3)
    col_perm = np.concatenate([s * 3 + rng.permutation(3) for s in stacks])
    mapping = np.array([row_perm[i // 9] * 9 + col_perm[i % 9] for i in range(81)])

    def transform(x: np.ndarray) -> np.ndarray:
        if transpose_flag:
            x = x.T
        moved = x.flatten()[mapping].reshape(9, 9).copy()
        return digit_map[moved]

    return transform(board), transform(solution)


def augment_puzzles_loop(
    puzzles, answers, num_aug: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline for the benchmark: :func:`augment_puzzles` as a per-puzzle,
    per-augmentation Python loop (one transform drawn and applied at a time on a 9x9
    grid), in the TRM reference's style. Same output layout; different random draws.
    """
    p, a = _check_pair(puzzles, answers, num_aug)
    rng = np.random.default_rng(seed)
    inputs, labels, group_indices = [], [], [0]
    for board, solution in zip(p.reshape(-1, 9, 9), a.reshape(-1, 9, 9), strict=True):
        for aug_idx in range(1 + num_aug):
            if aug_idx == 0:
                inp, out = board, solution
            else:
                inp, out = _shuffle_pair_loop(board, solution, rng)
            inputs.append(inp.reshape(NUM_CELLS))
            labels.append(out.reshape(NUM_CELLS))
        group_indices.append(len(inputs))
    if not inputs:
        empty = np.zeros((0, NUM_CELLS), dtype=np.uint8)
        return empty, empty.copy(), np.zeros(1, dtype=np.int64)
    return (
        np.stack(inputs).astype(np.uint8),
        np.stack(labels).astype(np.uint8),
        np.array(group_indices, dtype=np.int64),
    )
