"""Sudoku library of the TRM pipeline: plain numpy, no Kedro and no torch.

Grids are uint8 arrays, 0 for a blank and 1..9 for digits; a batch is ``[N, 81]``.

- :mod:`.grids`: parsing, formatting and the model's token map;
- :mod:`.rules`: solution checks, given preservation, conflicting cells;
- :mod:`.solver`: exact bitmask solver with singles propagation and MRV search;
- :mod:`.generator`: puzzles with a unique solution and a chosen number of givens;
- :mod:`.augment`: the reference's validity-preserving augmentation, vectorized;
- :mod:`.symmetry`: exact equivalence under that augmentation group (leakage reports).
"""

from .augment import (
    SudokuTransforms,
    apply_transforms,
    augment_puzzles,
    augment_puzzles_loop,
    random_transforms,
)
from .generator import generate_puzzles
from .grids import (
    BLANK_TOKEN,
    GRID_SIZE,
    NUM_CELLS,
    PAD_TOKEN,
    TOKEN_MAP,
    VOCAB_SIZE,
    as_batch,
    as_grid,
    format_grid,
    format_grids,
    grids_to_tokens,
    parse_grid,
    parse_grids,
    pretty_grid,
    tokens_to_grids,
)
from .rules import (
    find_conflicts,
    has_conflicts,
    is_valid_solution,
    keeps_givens,
    keeps_givens_batch,
    valid_solutions,
)
from .solver import SolveResult, solve, solve_many
from .symmetry import are_equivalent, find_equivalent, invariant_keys

__all__ = [
    "BLANK_TOKEN",
    "GRID_SIZE",
    "NUM_CELLS",
    "PAD_TOKEN",
    "TOKEN_MAP",
    "VOCAB_SIZE",
    "SolveResult",
    "SudokuTransforms",
    "apply_transforms",
    "are_equivalent",
    "as_batch",
    "as_grid",
    "augment_puzzles",
    "augment_puzzles_loop",
    "find_conflicts",
    "find_equivalent",
    "format_grid",
    "format_grids",
    "generate_puzzles",
    "grids_to_tokens",
    "has_conflicts",
    "invariant_keys",
    "is_valid_solution",
    "keeps_givens",
    "keeps_givens_batch",
    "parse_grid",
    "parse_grids",
    "pretty_grid",
    "random_transforms",
    "solve",
    "solve_many",
    "tokens_to_grids",
    "valid_solutions",
]
