"""Plain handlers of the solver page: read a puzzle, run the exported models, judge the answer.

Nothing here imports Gradio, so every handler can be called and tested without a server.
Bad input never raises: each handler returns a plain message instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.render import LEGEND, grid_html, message_html
from trm_pipeline.export.runtime import HALTING_MODES, PIPELINE_HINT, OnnxTRM
from trm_pipeline.sudoku import (
    find_conflicts,
    is_valid_solution,
    keeps_givens,
    solve,
    tokens_to_grids,
)

SEPARATORS = frozenset("|-+")
CELL_VALUES = {".": 0, "0": 0, "": 0} | {str(digit): digit for digit in range(1, 10)}
ALLOWED = "use 1-9 for a digit and . or 0 for a blank"
EMPTY_INPUT = "Type a puzzle (81 characters) or fill in the grid, or press Random puzzle."
# Where the random-puzzle button looks for the test split, relative to the data folder.
TEST_SPLIT_FILES = ("05_model_input/test_inputs.npz", "03_primary/test_puzzles.npz")


class PuzzleInputError(ValueError):
    """Raised when the input is not a puzzle that the page can solve.

    The message is shown to the user as it is.
    """


# reading the input


def grid_from_text(text: str) -> np.ndarray:
    """Parse 81 cells written row by row, skipping whitespace and the separators ``| - +``.

    Raises:
        PuzzleInputError: On a character other than 1-9, ``.`` and ``0``, or a count of
            cells other than 81.
    """
    cells = []
    for position, char in enumerate(text, start=1):
        if char.isspace() or char in SEPARATORS:
            continue
        if char not in CELL_VALUES:
            raise PuzzleInputError(
                f"Character {char!r} at position {position} is not allowed: {ALLOWED}."
            )
        cells.append(CELL_VALUES[char])
    if len(cells) != 81:
        raise PuzzleInputError(
            f"The puzzle has {len(cells)} cells; it needs exactly 81, one per cell row by row "
            f"({ALLOWED})."
        )
    return np.array(cells, dtype=np.uint8)


def _cell_value(value: Any, row: int, col: int) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        value = str(int(value))
    text = str(value).strip()
    if text not in CELL_VALUES:
        raise PuzzleInputError(
            f"Row {row + 1}, column {col + 1} holds {text!r}: {ALLOWED} (or leave it empty)."
        )
    return CELL_VALUES[text]


def grid_from_table(table: Any) -> np.ndarray:
    """Parse the editable 9x9 grid (a list of rows, a numpy array, a DataFrame or Gradio's dict).

    Missing rows or columns count as blank, and ``None`` gives an all-blank grid. More than 9
    rows or columns is an error.

    Raises:
        PuzzleInputError: On a cell other than 1-9, blank, ``.`` or ``0``, or a grid larger
            than 9x9.
    """
    if table is None:
        return np.zeros(81, dtype=np.uint8)
    if isinstance(table, dict):
        table = table.get("data") or []
    if hasattr(table, "to_numpy"):  # pandas or polars
        table = table.to_numpy()
    rows = [list(row) if isinstance(row, (list, tuple, np.ndarray)) else [row] for row in table]
    if len(rows) > 9 or any(len(row) > 9 for row in rows):
        width = max((len(row) for row in rows), default=0)
        raise PuzzleInputError(
            f"The grid is {len(rows)} rows by {width} columns; a Sudoku has 9 rows of 9 cells."
        )
    grid = np.zeros((9, 9), dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            grid[r, c] = _cell_value(value, r, c)
    return grid.reshape(81)


def read_puzzle(text: str | None, table: Any) -> np.ndarray:
    """Parse the puzzle from the text box when it contains non-whitespace text, else from the grid.

    Raises:
        PuzzleInputError: On unreadable input, or when the text box is empty and the grid
            has no digit.
    """
    grid = grid_from_text(text) if text and text.strip() else grid_from_table(table)
    if not grid.any() and not (text and text.strip()):
        raise PuzzleInputError(EMPTY_INPUT)
    return grid


def text_from_grid(grid: np.ndarray) -> str:
    return "".join(str(int(value)) if value else "." for value in np.asarray(grid).reshape(81))


def table_from_grid(grid: np.ndarray) -> list[list[str]]:
    cells = [str(int(value)) if value else "" for value in np.asarray(grid).reshape(81)]
    return [cells[row * 9 : row * 9 + 9] for row in range(9)]


# checking the puzzle with the rules and the exact solver


@dataclass
class PuzzleCheck:
    """A puzzle with the exact solver's solution count and, when unique, its solution."""

    grid: np.ndarray  # [81] uint8
    num_solutions: int  # 0, 1 or 2 (2 = several)
    solution: np.ndarray | None  # [81] when unique

    @property
    def note(self) -> str:
        if self.num_solutions > 1:
            return (
                "This puzzle has more than one solution. The model still runs; its answer is "
                "judged by the rules only."
            )
        return ""


def _cell_names(mask: np.ndarray, limit: int = 6) -> str:
    names = [f"r{index // 9 + 1}c{index % 9 + 1}" for index in np.flatnonzero(mask)]
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


def check_puzzle(grid: np.ndarray) -> PuzzleCheck:
    """Check the givens against the rules and count the solutions, stopping at 2.

    Raises:
        PuzzleInputError: If the givens break a rule or the puzzle has no solution.
    """
    conflicts = find_conflicts(grid)
    if conflicts.any():
        raise PuzzleInputError(
            f"The givens break a rule: a digit repeats in a row, column or box at "
            f"{_cell_names(conflicts)}. Fix those cells first."
        )
    result = solve(grid, max_solutions=2)
    if result.num_solutions == 0:
        raise PuzzleInputError(
            "This puzzle has no solution (the exact solver found none), so there is nothing "
            "to solve. Check the givens."
        )
    solution = result.solution if result.num_solutions == 1 else None
    return PuzzleCheck(grid=grid, num_solutions=result.num_solutions, solution=solution)


# running a model


@dataclass
class ModelAnswer:
    """One model's answer to one puzzle, with its step-by-step trace."""

    label: str
    puzzle: np.ndarray  # [81]
    digits: np.ndarray  # [S, 81] the answer after each supervision step
    halt_probabilities: np.ndarray  # [S]
    seconds: float
    halting: str
    solution: np.ndarray | None  # [81] the unique solution, if any
    solved: bool = field(init=False)
    verdict: str = field(init=False)

    def __post_init__(self) -> None:
        self.solved, self.verdict = judge(self.puzzle, self.final, self.solution)

    @property
    def final(self) -> np.ndarray:
        return self.digits[-1]

    @property
    def steps(self) -> int:
        return len(self.digits)

    def timing(self) -> str:
        rule = "learned halting" if self.halting == "learned" else "fixed number of steps"
        return f"{self.seconds:.2f} s for {self.steps} supervision step(s) ({rule})"

    def to_state(self) -> dict[str, Any]:
        """Return the label, puzzle, per-step digits and halt probabilities as JSON-ready lists.

        The page keeps this dict as its state, and the step slider reads it.
        """
        return {
            "label": self.label,
            "puzzle": self.puzzle.tolist(),
            "digits": self.digits.tolist(),
            "halt": self.halt_probabilities.tolist(),
        }


def judge(puzzle: np.ndarray, answer: np.ndarray, solution: np.ndarray | None) -> tuple[bool, str]:
    """Judge ``answer`` by the rules, the givens of ``puzzle`` and, if not None, ``solution``.

    Returns ``(solved, verdict)``, where ``verdict`` is one sentence for the page that lists
    every problem found.
    """
    conflicts = int(find_conflicts(answer).sum())
    changed = int(((puzzle != 0) & (puzzle != answer)).sum())
    if is_valid_solution(answer) and keeps_givens(puzzle, answer):
        if solution is None:
            return True, "Solved: a valid grid that keeps every given (one of several solutions)."
        if np.array_equal(answer, solution):
            return True, "Solved: a valid grid, equal to the exact solver's unique solution."
    problems = []
    if conflicts:
        problems.append(_count(conflicts, "cell breaks", "cells break") + " a rule")
    if changed:
        problems.append(_count(changed, "given was", "givens were") + " changed")
    if solution is not None:
        differing = int((answer != solution).sum())
        problems.append(
            _count(differing, "cell differs", "cells differ") + " from the unique solution"
        )
    return False, "Wrong: " + "; ".join(problems) + "."


def _count(number: int, singular: str, plural: str) -> str:
    """Return ``"<number> <singular>"`` for 1 and ``"<number> <plural>"`` otherwise."""
    return f"{number} {singular if number == 1 else plural}"


def run_model(
    model: OnnxTRM, label: str, check: PuzzleCheck, halting: str, max_steps: int | None = None
) -> ModelAnswer:
    """Run one model on the checked puzzle and judge its answer."""
    recursion = model.run(check.grid[None], halting=halting, max_steps=max_steps)
    return ModelAnswer(
        label=label,
        puzzle=check.grid,
        digits=recursion.digits[:, 0],
        halt_probabilities=recursion.halt_probabilities[:, 0],
        seconds=recursion.seconds,
        halting=halting,
        solution=check.solution,
    )


# what the page shows


@dataclass
class SolveView:
    """Output of the Solve button: a message, one answer per model and the puzzle read."""

    message: str
    answers: list[ModelAnswer]
    puzzle: np.ndarray | None = None


def solve_puzzle(
    models: dict[str, OnnxTRM], text: str | None, table: Any, halting: str = "learned"
) -> SolveView:
    """Read, check and solve the puzzle with every model.

    Bad input, a missing model or an unknown halting mode gives a view with a message and no
    answers instead of an exception.
    """
    if not models:
        return SolveView(no_model_message(), [])
    if halting not in HALTING_MODES:
        return SolveView(f"Halting must be one of {', '.join(HALTING_MODES)}.", [])
    try:
        grid = read_puzzle(text, table)
        check = check_puzzle(grid)
    except PuzzleInputError as error:
        return SolveView(str(error), [])
    answers = [run_model(model, label, check, halting) for label, model in models.items()]
    return SolveView(check.note, answers, grid)


def answer_html(answer: ModelAnswer) -> str:
    """Render the model's final grid as HTML, with givens and conflicting cells marked."""
    return grid_html(
        answer.final,
        answer.puzzle,
        conflicts=find_conflicts(answer.final),
        caption=answer.label,
        element_id="answer-grid",
    )


def step_html(state: dict[str, Any] | None, step: int | float | None) -> str:
    """Render the grid after supervision step ``step`` (1-based) as HTML.

    The caption gives the step's halt probability and the number of cells changed since the
    previous step, and the changed cells are marked. ``step`` is clamped to the steps in
    ``state``. Without a solved puzzle in ``state`` it returns a prompt to solve one.
    """
    if not state or not state.get("digits"):
        return message_html("Solve a puzzle to step through the recursion.")
    digits = np.asarray(state["digits"], dtype=np.uint8)
    step = int(min(max(int(step or 1), 1), len(digits)))
    current = digits[step - 1]
    previous = digits[step - 2] if step > 1 else np.asarray(state["puzzle"], dtype=np.uint8)
    changed = current != previous
    halt = state["halt"][step - 1]
    caption = (
        f"Step {step} of {len(digits)}: halt probability {halt:.3f}, "
        f"{int(changed.sum())} cells changed"
    )
    puzzle = np.asarray(state["puzzle"], dtype=np.uint8)
    body = grid_html(
        current, puzzle, conflicts=find_conflicts(current), changed=changed, caption=caption
    )
    return body + LEGEND


def no_model_message(detail: str = "") -> str:
    prefix = f"{detail} " if detail else ""
    return (
        f"{prefix}No exported model to run. Train and export one with `{PIPELINE_HINT}` "
        "(or --pipelines=train_att), then restart the page."
    )


# the test split, for the random-puzzle button


def load_test_puzzles(data_dir: Path) -> np.ndarray | None:
    """Load the test puzzles ``[N, 81]`` (0 = blank) from the first split file in ``data_dir``.

    The files of ``TEST_SPLIT_FILES`` are tried in order. Returns None when none of them
    exists with an ``inputs`` or ``question`` array.
    """
    for name in TEST_SPLIT_FILES:
        path = Path(data_dir) / name
        if not path.is_file():
            continue
        with np.load(path, allow_pickle=False) as archive:
            if "inputs" in archive.files:
                return tokens_to_grids(archive["inputs"])
            if "question" in archive.files:
                return np.asarray(archive["question"], dtype=np.uint8)
    return None


def random_puzzle(puzzles: np.ndarray | None, rng: np.random.Generator) -> tuple[str, str]:
    """Draw a random puzzle from ``puzzles`` and return it as 81 characters with a message.

    Without test puzzles it returns an empty puzzle and a message on how to build the split.
    """
    if puzzles is None or len(puzzles) == 0:
        return "", (
            "No test split found (data/05_model_input/test_inputs.npz or "
            "data/03_primary/test_puzzles.npz). Run `kedro run --pipelines=data_processing "
            "--env quick` to build it, or type a puzzle."
        )
    index = int(rng.integers(len(puzzles)))
    return text_from_grid(puzzles[index]), f"Test puzzle #{index} of {len(puzzles)}."
