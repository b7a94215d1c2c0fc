"""Solve one Sudoku with a trained TRM from the command line.

Usage::

    python -m trm_pipeline.solve --model data/06_models/train_mlp/best_model.pt \\
        '..89....5.....8..69...573.81.........57....6.68...3..1.96.4.7..731.........5.....'

The puzzle is 81 characters, row-major, with ``.`` or ``0`` for a blank. Spaces and the
``|``, ``-``, ``+`` separators of a pretty-printed grid are ignored. Invalid input prints a
one-line error and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trm_pipeline.evaluation.protocol import load_model
from trm_pipeline.model.act import HALTING_MODES, IGNORE_LABEL, run_to_halt
from trm_pipeline.model.device import resolve_device
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.sudoku import (
    NUM_CELLS,
    TOKEN_MAP,
    VOCAB_SIZE,
    find_conflicts,
    grids_to_tokens,
    is_valid_solution,
    keeps_givens,
    parse_grid,
    pretty_grid,
)
from trm_pipeline.training.checkpoints import load_checkpoint

MODELS_DIR = Path("data/06_models")
TRAINING_STATE_FORMAT = "trm_pipeline.training/1"
USAGE_ERROR = 2
# The token map of trm_pipeline.sudoku; a checkpoint trained with another one is rejected.
SUDOKU_METADATA = {"vocab_size": VOCAB_SIZE, "seq_len": NUM_CELLS, "token_map": TOKEN_MAP}


class UsageError(Exception):
    """Invalid command-line input; reported as one line with exit status 2."""


@dataclass
class Solution:
    """The model's predicted grid for one puzzle.

    Attributes:
        grid: ``[81]`` uint8, 0 where the model predicted no digit (a pad or blank token).
        steps: Supervision steps used.
        confidence: sigmoid(halt logit) at the last step: the model's estimate that every
            cell is right.
    """

    grid: np.ndarray
    steps: int
    confidence: float


def newest_model(models_dir: Path = MODELS_DIR) -> Path:
    """Return the most recently written ``<models_dir>/*/best_model.pt``."""
    candidates = sorted(models_dir.glob("*/best_model.pt"), key=lambda path: path.stat().st_mtime)
    if not candidates:
        raise UsageError(
            f"no model found at {models_dir}/*/best_model.pt; train one with "
            "`kedro run --pipelines=train_mlp --env quick` or pass --model PATH"
        )
    return candidates[-1]


def load_solver(path: Path, device: torch.device) -> TinyRecursiveModel:
    """Load the model of a best_model.pt, last_model.pt or training best.pt file."""
    try:
        checkpoint: dict[str, Any] = load_checkpoint(path)
    except FileNotFoundError:
        raise UsageError(f"model file {path} not found") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise UsageError(
            f"{path} is not a model checkpoint of this project "
            f"(torch.load failed with {type(error).__name__})"
        ) from None
    if not isinstance(checkpoint, dict):
        raise UsageError(
            f"{path} contains a {type(checkpoint).__name__}, not a model checkpoint dict"
        )
    if checkpoint.get("format") == TRAINING_STATE_FORMAT:
        raise UsageError(
            f"{path} is a training state, not a model; pass the best.pt beside it or "
            "data/06_models/<pipeline>/last_model.pt"
        )
    try:
        return load_model(checkpoint, SUDOKU_METADATA, device)
    except ValueError as error:
        raise UsageError(f"cannot use {path}: {error}") from None


def parse_puzzle(text: str) -> np.ndarray:
    """Parse and check a puzzle string; raise ``UsageError`` on bad input."""
    try:
        puzzle = parse_grid(text)
    except ValueError as error:
        raise UsageError(f"invalid puzzle: {error}") from None
    conflicts = np.flatnonzero(find_conflicts(puzzle))
    if len(conflicts):
        cells = ", ".join(f"r{cell // 9 + 1}c{cell % 9 + 1}" for cell in conflicts)
        raise UsageError(f"invalid puzzle: the givens repeat a digit at {cells}")
    return puzzle


@torch.no_grad()
def solve_with_model(
    model: TinyRecursiveModel,
    puzzle: np.ndarray,
    halting: str = "fixed",
    max_steps: int | None = None,
) -> Solution:
    """Run the model on one ``[81]`` puzzle (0 for blanks) until it halts."""
    device = model.initial_answer.device
    tokens = torch.as_tensor(grids_to_tokens(puzzle)[None], device=device).long()  # [1, 81]
    labels = torch.full_like(tokens, IGNORE_LABEL)  # unknown solution: no metrics needed
    carry, output, _ = run_to_halt(model, tokens, labels, halting=halting, max_steps=max_steps)
    predicted = output.logits.argmax(-1)[0].cpu().numpy()  # [81] tokens
    # Digit tokens are d + 1 (2..10); pad (0) and blank (1) predictions become empty cells.
    grid = np.where(predicted >= 2, predicted - 1, 0).astype(np.uint8)
    halt_logit = float(output.halt_logit[0])
    return Solution(
        grid=grid,
        steps=int(carry.steps[0]),
        confidence=1.0 / (1.0 + math.exp(-halt_logit)),
    )


def describe(puzzle: np.ndarray, solution: Solution, budget: int) -> str:
    """Format the puzzle, the predicted grid and its checks for the terminal."""
    valid = is_valid_solution(solution.grid)
    keeps = keeps_givens(puzzle, solution.grid)
    lines = [
        "Puzzle:",
        pretty_grid(puzzle),
        "",
        "Predicted solution:",
        pretty_grid(solution.grid),
        "",
        f"valid solution: {'yes' if valid else 'no'}",
        f"keeps the givens: {'yes' if keeps else 'no'}",
        f"supervision steps: {solution.steps} of {budget}",
        f"confidence (sigmoid of the halt logit): {solution.confidence:.3f}",
    ]
    if not valid:
        conflicts = int(find_conflicts(solution.grid).sum())
        blanks = int((solution.grid == 0).sum())
        lines.append(f"conflicting cells: {conflicts}, empty cells: {blanks}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trm_pipeline.solve", description="Solve one Sudoku with a trained TRM."
    )
    parser.add_argument("puzzle", help="81 characters, row-major; '.' or '0' for a blank")
    parser.add_argument(
        "--model",
        type=Path,
        help="best_model.pt, last_model.pt or a training best.pt (default: the newest "
        f"{MODELS_DIR}/*/best_model.pt)",
    )
    parser.add_argument(
        "--halting",
        choices=HALTING_MODES,
        default="fixed",
        help="fixed: run the whole step budget; learned: stop once the halt logit is positive",
    )
    parser.add_argument(
        "--max-steps", type=int, help="supervision step budget (default: the model's N_sup)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.max_steps is not None and args.max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, got {args.max_steps}")
        puzzle = parse_puzzle(args.puzzle)
        device = resolve_device(args.device)
        path = args.model or newest_model()
        model = load_solver(path, device)
    except (UsageError, ValueError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    solution = solve_with_model(model, puzzle, args.halting, args.max_steps)
    budget = args.max_steps or model.config.num_supervision_steps
    print(f"Model: {path}\n")
    print(describe(puzzle, solution, budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
