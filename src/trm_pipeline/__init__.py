"""Tiny Recursive Model (TRM) on Sudoku-Extreme: data, model, training, evaluation and export."""

__version__ = "0.1.0"
