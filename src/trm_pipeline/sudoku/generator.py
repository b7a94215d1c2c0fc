"""Generate Sudoku puzzles with a unique solution and a chosen number of givens."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from .grids import NUM_CELLS
from .solver import (
    ALL_CANDIDATES,
    _search,
    _to_grid,
    has_other_solution,
    solve,
)

MIN_GIVENS_POSSIBLE = 17  # no 9x9 Sudoku with a unique solution has fewer givens
_PERTURB_ROUNDS = 25  # local-search rounds per grid when one removal pass gets stuck


def random_solution(rng: np.random.Generator) -> np.ndarray:
    """A random complete grid ([81] uint8): depth-first search from the empty grid,
    trying each cell's digits in a random order."""
    orders = rng.permuted(np.tile(np.arange(1, 10), (NUM_CELLS, 1)), axis=1).tolist()
    solutions, _ = _search([ALL_CANDIDATES] * NUM_CELLS, [], 1, orders)
    return _to_grid(solutions[0])


def _remove_pass(values: list[int], order: list[int], givens: int, target: int) -> int:
    """Blank the cells of ``order`` one by one where the solution stays unique, stopping
    at ``target`` givens. Returns the new number of givens.

    A cell whose blanking fails once can never be blanked later in the same pass (more
    blanks only admit more solutions), so after a full pass every given is necessary.
    """
    for cell in order:
        if givens <= target:
            break
        if values[cell] and not has_other_solution(values, cell):
            values[cell] = 0
            givens -= 1
    return givens


def _carve(
    solution: list[int], target: int, rng: np.random.Generator, rounds: int
) -> list[int] | None:
    """Blank cells of ``solution`` until ``target`` givens remain, keeping it unique.

    First one pass in random order. If every remaining given is needed before the target
    is reached, up to ``rounds`` perturbations follow: give back one random blanked cell,
    then try to blank the other givens again (that cell last), which moves to another
    minimal puzzle with as many or fewer givens. Returns None if the target is not reached.
    """
    values = list(solution)
    givens = _remove_pass(values, rng.permutation(NUM_CELLS).tolist(), NUM_CELLS, target)
    for _ in range(rounds):
        if givens <= target:
            break
        blanks = [i for i, v in enumerate(values) if not v]
        back = blanks[int(rng.integers(len(blanks)))]
        values[back] = solution[back]
        order = [i for i in rng.permutation(NUM_CELLS).tolist() if values[i] and i != back]
        givens = _remove_pass(values, [*order, back], givens + 1, target)
    return values if givens == target else None


def generate_puzzles(
    count: int,
    min_givens: int = 22,
    max_givens: int = 36,
    seed: int = 0,
    progress: bool = False,
    *,
    max_attempts: int = 50,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate ``count`` puzzles, each with a unique solution.

    Each puzzle draws its number of givens uniformly from ``[min_givens, max_givens]``,
    starts from a random complete grid and blanks cells in random order, keeping the
    solution unique, until that number is reached. When a grid gets stuck above the
    target (every remaining given is needed), a short local search (give one cell back,
    blank others) continues; failing that a new grid is tried, up to ``max_attempts``
    grids per puzzle, then RuntimeError. On this machine a puzzle takes about 0.03 s at
    25+ givens, ~0.5 s at 22 and several seconds at 21; 20 often fails and 17-19
    practically always do (minimal puzzles from random removal average ~24 givens).

    Returns ``(puzzles [N, 81] uint8, solutions [N, 81] uint8, ratings [N] int32)``; the
    rating is the solver's ``guesses`` on the puzzle (see :class:`SolveResult`).
    Deterministic: the same arguments give the same output.
    """
    count, min_givens, max_givens = _check_args(count, min_givens, max_givens, max_attempts)
    rng = np.random.default_rng(seed)
    puzzles = np.zeros((count, NUM_CELLS), dtype=np.uint8)
    solutions = np.zeros((count, NUM_CELLS), dtype=np.uint8)
    ratings = np.zeros(count, dtype=np.int32)
    indices = range(count)
    if progress:
        indices = tqdm(indices, desc="generate", unit="puzzle")
    for i in indices:
        target = int(rng.integers(min_givens, max_givens + 1))
        for _ in range(max_attempts):
            solution = random_solution(rng)
            puzzle = _carve(solution.tolist(), target, rng, _PERTURB_ROUNDS)
            if puzzle is not None:
                break
        else:
            raise RuntimeError(
                f"could not reach {target} givens with a unique solution in {max_attempts}"
                f" random grids (puzzle {i}); random removal rarely gets below ~22 givens:"
                f" raise min_givens (now {min_givens}) or max_attempts"
            )
        result = solve(np.array(puzzle, dtype=np.uint8))
        if result.num_solutions != 1 or not np.array_equal(result.solution, solution):
            raise AssertionError("internal error: generated puzzle is not uniquely solvable")
        puzzles[i] = puzzle
        solutions[i] = solution
        ratings[i] = result.guesses
    return puzzles, solutions, ratings


def _check_args(count, min_givens, max_givens, max_attempts) -> tuple[int, int, int]:
    for name, value in (
        ("count", count),
        ("min_givens", min_givens),
        ("max_givens", max_givens),
        ("max_attempts", max_attempts),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if not MIN_GIVENS_POSSIBLE <= min_givens <= max_givens <= NUM_CELLS:
        raise ValueError(
            f"need {MIN_GIVENS_POSSIBLE} <= min_givens <= max_givens <= {NUM_CELLS}, got"
            f" min_givens={min_givens}, max_givens={max_givens} (no Sudoku with fewer than"
            f" {MIN_GIVENS_POSSIBLE} givens has a unique solution)"
        )
    return int(count), int(min_givens), int(max_givens)
