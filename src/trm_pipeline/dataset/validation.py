"""Row-by-row validation of raw puzzle tables, vectorized over the whole table."""

from __future__ import annotations

import logging
from typing import TypedDict

import numpy as np

from trm_pipeline.dataset.sources import PuzzleTable
from trm_pipeline.sudoku import find_conflicts, keeps_givens_batch, valid_solutions

logger = logging.getLogger(__name__)

NUM_CELLS = 81
ON_INVALID_CHOICES = ("fail", "skip")


class PuzzleSet(TypedDict):
    """Validated puzzles: grids as uint8 digits with 0 for a blank."""

    question: np.ndarray  # [N, 81] uint8
    answer: np.ndarray  # [N, 81] uint8
    rating: np.ndarray  # [N] int64
    source: np.ndarray  # [N] str


class InvalidPuzzleError(ValueError):
    """A puzzle row breaks the data format or the Sudoku rules."""


def _text_to_bytes(texts: np.ndarray) -> np.ndarray:
    """Turn equal-length strings into a [N, 81] uint8 array of character codes."""
    joined = "".join(texts.tolist()).encode("ascii", errors="replace")
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(texts), NUM_CELLS)


def _check_text(texts: np.ndarray, allowed: bytes, column: str, hint: str) -> list[str | None]:
    """Return one problem description (or None) per row for a column of grid strings."""
    problems: list[str | None] = [None] * len(texts)
    lengths = np.char.str_len(texts)
    for row in np.flatnonzero(lengths != NUM_CELLS):
        problems[row] = (
            f"column '{column}' has {lengths[row]} characters; a grid has exactly 81 "
            "(row-major, one character per cell)"
        )
    full = np.flatnonzero(lengths == NUM_CELLS)
    if len(full):
        codes = _text_to_bytes(texts[full])
        bad = ~np.isin(codes, np.frombuffer(allowed, dtype=np.uint8))
        for row in np.flatnonzero(bad.any(axis=1)):
            position = int(np.argmax(bad[row]))
            character = texts[full[row]][position]
            problems[full[row]] = (
                f"column '{column}' has the character {character!r} at position "
                f"{position + 1}; {hint}"
            )
    return problems


def _row_label(table: PuzzleTable, row: int) -> str:
    line = int(table["line"][row])
    where = f"line {line}" if line > 0 else f"row {row + 1}"
    return f"{table['file']}, {where}"


def _describe_rule_break(question: np.ndarray, answer: np.ndarray) -> str:
    conflicts = np.flatnonzero(find_conflicts(answer))
    if len(conflicts):
        cell = int(conflicts[0])
        return (
            f"column 'answer' breaks the Sudoku rules: digit {answer[cell]} at row "
            f"{cell // 9 + 1}, column {cell % 9 + 1} repeats in its row, column or box"
        )
    changed = int(np.flatnonzero((question != 0) & (question != answer))[0])
    return (
        f"column 'answer' changes a given: the question has {question[changed]} at row "
        f"{changed // 9 + 1}, column {changed % 9 + 1} but the answer has {answer[changed]}"
    )


def _parse_grid_codes(codes: np.ndarray) -> np.ndarray:
    digits = codes.astype(np.int16) - ord("0")
    digits[codes == ord(".")] = 0
    return digits.astype(np.uint8)


def validate_puzzle_table(table: PuzzleTable, on_invalid: str = "fail") -> PuzzleSet:
    """Check every row of a raw puzzle table and parse the valid ones.

    A row is valid when ``question`` has 81 characters from ``1-9``, ``.`` and ``0``,
    ``answer`` has 81 digits ``1-9`` forming a valid solution that keeps every given of the
    question, and ``rating`` is an integer.

    Args:
        table: raw rows from a source.
        on_invalid: ``"fail"`` raises on the first invalid row; ``"skip"`` drops invalid rows
            and logs how many were dropped.

    Raises:
        InvalidPuzzleError: an invalid row with ``on_invalid="fail"``, or no valid row left.
    """
    if on_invalid not in ON_INVALID_CHOICES:
        raise ValueError(
            f"data.on_invalid is {on_invalid!r}; use one of {', '.join(ON_INVALID_CHOICES)}."
        )
    questions, answers = table["question"], table["answer"]
    problems = _check_text(
        questions, b"123456789.0", "question", "use 1-9 for digits and '.' or '0' for blanks"
    )
    answer_problems = _check_text(answers, b"123456789", "answer", "an answer holds digits 1-9")
    ratings = np.zeros(len(questions), dtype=np.int64)
    for row, text in enumerate(table["rating"].tolist()):
        problems[row] = problems[row] or answer_problems[row]
        try:
            ratings[row] = int(text)
        except ValueError:
            problems[row] = problems[row] or (
                f"column 'rating' is {text!r}; it must be an integer (a difficulty count)"
            )

    well_formed = np.array([problem is None for problem in problems], dtype=bool)
    rows = np.flatnonzero(well_formed)
    question_grids = _parse_grid_codes(_text_to_bytes(questions[rows]))
    answer_grids = _parse_grid_codes(_text_to_bytes(answers[rows]))
    follows_rules = valid_solutions(answer_grids) & keeps_givens_batch(question_grids, answer_grids)
    for index in np.flatnonzero(~follows_rules):
        problems[rows[index]] = _describe_rule_break(question_grids[index], answer_grids[index])

    invalid = [row for row, problem in enumerate(problems) if problem is not None]
    if invalid and on_invalid == "fail":
        first = invalid[0]
        raise InvalidPuzzleError(
            f"{_row_label(table, first)}: {problems[first]}. {len(invalid)} of "
            f"{len(problems)} rows are invalid. Fix the data, or set data.on_invalid: skip to "
            "drop invalid rows."
        )
    if invalid:
        logger.warning(
            "Dropped %d invalid row(s) of %d from %s (data.on_invalid: skip); first: %s: %s",
            len(invalid),
            len(problems),
            table["file"],
            _row_label(table, invalid[0]),
            problems[invalid[0]],
        )
    keep = follows_rules
    if not keep.any():
        raise InvalidPuzzleError(f"{table['file']}: no valid puzzle row is left to use.")
    return PuzzleSet(
        question=question_grids[keep],
        answer=answer_grids[keep],
        rating=ratings[rows[keep]],
        source=table["source"][rows[keep]],
    )
