"""Building the Sudoku-Extreme training and test sets: sources, validation, selection, tokens."""

from trm_pipeline.dataset.build import (
    augment_training_puzzles,
    build_model_inputs,
    select_puzzles,
)
from trm_pipeline.dataset.sources import (
    PuzzleTable,
    fetch_huggingface_files,
    generate_puzzle_table,
    read_puzzle_csv,
)
from trm_pipeline.dataset.validation import InvalidPuzzleError, validate_puzzle_table

__all__ = [
    "InvalidPuzzleError",
    "PuzzleTable",
    "augment_training_puzzles",
    "build_model_inputs",
    "fetch_huggingface_files",
    "generate_puzzle_table",
    "read_puzzle_csv",
    "select_puzzles",
    "validate_puzzle_table",
]
