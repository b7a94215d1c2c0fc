"""Sudoku rules: complete-solution checks, given preservation and conflicting cells."""

from __future__ import annotations

import numpy as np

from .grids import GRID_SIZE, NUM_CELLS, as_batch, as_grid

# Bit d set for each digit 1..9: a row, column or box holds every digit iff OR == _ALL_DIGITS.
_ALL_DIGITS = np.uint16(0b11_1111_1110)


def _boxes(g: np.ndarray) -> np.ndarray:
    """``[N, 9, 9]`` grids -> ``[N, 9, 9]`` with axis 1 the box (row-major) and axis 2 its cells."""
    n = g.shape[0]
    return g.reshape(n, 3, 3, 3, 3).transpose(0, 1, 3, 2, 4).reshape(n, GRID_SIZE, GRID_SIZE)


def valid_solutions(grids) -> np.ndarray:
    """For each ``[81]`` row of a ``[N, 81]`` batch: is it a complete, valid solution?

    Valid means no blank and every row, column and box a permutation of 1..9.
    """
    batch = as_batch(grids)
    n = batch.shape[0]
    bits = np.left_shift(np.uint16(1), batch.astype(np.uint16)).reshape(n, GRID_SIZE, GRID_SIZE)
    # A blank sets bit 0, so it can never give _ALL_DIGITS; 9 cells covering 9 digits are
    # a permutation.
    rows = np.bitwise_or.reduce(bits, axis=2) == _ALL_DIGITS
    cols = np.bitwise_or.reduce(bits, axis=1) == _ALL_DIGITS
    boxes = np.bitwise_or.reduce(_boxes(bits), axis=2) == _ALL_DIGITS
    return rows.all(axis=1) & cols.all(axis=1) & boxes.all(axis=1)


def is_valid_solution(grid) -> bool:
    """Is ``grid`` ([9, 9] or [81]) a complete, valid Sudoku solution?"""
    return bool(valid_solutions(as_grid(grid)[None])[0])


def keeps_givens_batch(puzzles, answers) -> np.ndarray:
    """For each row: does the answer keep every given (non-zero cell) of the puzzle?"""
    p = as_batch(puzzles, "puzzles")
    a = as_batch(answers, "answers")
    if p.shape != a.shape:
        raise ValueError(f"puzzles {p.shape} and answers {a.shape} differ in shape")
    return ((p == 0) | (p == a)).all(axis=1)


def keeps_givens(puzzle, answer) -> bool:
    """Does ``answer`` hold every given (non-zero cell) of ``puzzle`` unchanged?"""
    p = as_grid(puzzle, "puzzle")
    a = as_grid(answer, "answer")
    return bool(((p == 0) | (p == a)).all())


def find_conflicts(grid) -> np.ndarray:
    """``[81]`` bool: cells whose non-zero digit repeats in their row, column or box."""
    g = as_grid(grid).reshape(GRID_SIZE, GRID_SIZE)
    onehot = g[:, :, None] == np.arange(1, 10, dtype=np.uint8)  # [row, col, digit-1]
    row_counts = onehot.sum(axis=1)  # [row, digit-1]
    col_counts = onehot.sum(axis=0)  # [col, digit-1]
    box_counts = onehot.reshape(3, 3, 3, 3, 9).sum(axis=(1, 3))  # [band, stack, digit-1]
    r = np.arange(GRID_SIZE)[:, None]
    c = np.arange(GRID_SIZE)[None, :]
    d = g.astype(np.intp) - 1
    filled = g > 0
    d = np.where(filled, d, 0)
    repeats = (row_counts[r, d] > 1) | (col_counts[c, d] > 1) | (box_counts[r // 3, c // 3, d] > 1)
    return (filled & repeats).reshape(NUM_CELLS)


def has_conflicts(grid) -> bool:
    """Does any non-zero digit repeat in a row, column or box?"""
    return bool(find_conflicts(grid).any())
