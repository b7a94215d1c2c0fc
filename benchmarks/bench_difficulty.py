"""Benchmark trained models on puzzles of increasing difficulty.

    python benchmarks/bench_difficulty.py data/06_models/train_att/best_model.pt \
        data/06_models/train_mlp/best_model.pt [--puzzles 200] [--no-write]

Evaluates each checkpoint (the EMA weights that the training pipeline keeps) with ``fixed``
halting on four held-out sets of ``--puzzles`` puzzles each (default 200):

- generated puzzles with 41-51 givens (30-40 blank cells), the kind ``conf/quick`` trains on;
- generated puzzles with 36-40 givens (41-45 blank cells);
- generated puzzles with 31-35 givens (46-50 blank cells);
- the external puzzles in ``<repo>/../shared/data/external_generated_5000.csv`` (21-30
  givens, 51-60 blank cells), produced by the qqwing and tdoku generators.

The generated sets use their own seeds, so they share no puzzle with the training data except
by chance. The script prints the figures and writes them into docs/benchmarks.md between
``<!-- bench_difficulty:start -->`` and ``<!-- bench_difficulty:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:  # a checkout without `pip install -e .` works too
    sys.path.append(str(REPO / "src"))

# The script's folder is on sys.path.
from bench_data import machine_facts  # noqa: E402
from docs_section import write_section  # noqa: E402

from trm_pipeline.dataset.sources import read_puzzle_csv  # noqa: E402
from trm_pipeline.dataset.validation import validate_puzzle_table  # noqa: E402
from trm_pipeline.evaluation import evaluate_model  # noqa: E402
from trm_pipeline.sudoku import generate_puzzles, grids_to_tokens  # noqa: E402
from trm_pipeline.training.checkpoints import (  # noqa: E402
    build_model_from_checkpoint,
    load_checkpoint,
)

DEFAULT_CSV = REPO / "../shared/data/external_generated_5000.csv"
DEFAULT_DOC = REPO / "docs/benchmarks.md"
# (label, min givens, max givens, generator seed). conf/quick generates with seed 0.
GENERATED_SETS = (
    ("generated, 41-51 givens (30-40 blanks)", 41, 51, 1001),
    ("generated, 36-40 givens (41-45 blanks)", 36, 40, 1002),
    ("generated, 31-35 givens (46-50 blanks)", 31, 35, 1003),
)
EXTERNAL_LABEL = "external qqwing/tdoku, 21-30 givens (51-60 blanks)"


def puzzle_sets(count: int, csv_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return ``{label: (questions, answers)}`` as ``[count, 81]`` digit grids, 0 for blank."""
    sets = {}
    for label, min_givens, max_givens, seed in GENERATED_SETS:
        questions, answers, _ = generate_puzzles(count, min_givens, max_givens, seed=seed)
        sets[label] = (questions, answers)
    if csv_path.is_file():
        external = validate_puzzle_table(read_puzzle_csv(csv_path))
        sets[EXTERNAL_LABEL] = (external["question"][:count], external["answer"][:count])
    else:
        print(f"{csv_path} not found: the external set is left out.")
    return sets


def evaluate_checkpoint(path: Path, sets: dict) -> tuple[str, list[dict]]:
    """Evaluate the checkpoint at ``path`` on every set; return its variant and one row per set."""
    checkpoint = load_checkpoint(path)
    model = build_model_from_checkpoint(checkpoint)
    variant = "mlp" if model.config.mlp_t else "att"
    rows = []
    for label, (questions, answers) in sets.items():
        result = evaluate_model(
            model,
            grids_to_tokens(questions),
            grids_to_tokens(answers),
            batch_size=100,
            halting="fixed",
            progress=False,
        )
        metrics = result.metrics()
        rows.append(
            {
                "set": label,
                "count": int(metrics["count"]),
                "exact": metrics["exact_accuracy"],
                "blank": metrics["blank_accuracy"],
                "q_halt": metrics["q_halt_accuracy"],
            }
        )
        print(
            f"{variant} | {label}: exact {metrics['exact_accuracy']:.1%}, blank "
            f"{metrics['blank_accuracy']:.1%}, q_halt {metrics['q_halt_accuracy']:.1%}"
        )
    return variant, rows


def markdown(results: dict[str, tuple[Path, list[dict]]], count: int) -> str:
    facts = machine_facts()
    lines = [
        "## Accuracy by puzzle difficulty (`benchmarks/bench_difficulty.py`)",
        "",
        f"Measured {datetime.date.today().isoformat()} on {facts['CPU']} "
        f"({facts['cores']}), torch {torch.__version__}. Each trained checkpoint (EMA weights) "
        f"is evaluated with fixed halting (N_sup steps) on {count} held-out puzzles per set.",
        "",
        "| variant | checkpoint | puzzle set | exact accuracy | blank-cell accuracy "
        "| q_halt accuracy |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for variant, (path, rows) in results.items():
        checkpoint = "/".join(path.parts[-2:])  # e.g. train_mlp/best_model.pt
        for row in rows:
            exact = f"{row['exact']:.1%} ({round(row['exact'] * row['count'])} of {row['count']})"
            lines.append(
                f"| {variant} | `{checkpoint}` | {row['set']} | {exact} | {row['blank']:.1%} "
                f"| {row['q_halt']:.1%} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="best_model.pt files")
    parser.add_argument("--puzzles", type=int, default=200, help="puzzles per set")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.checkpoints if not path.is_file()]
    if missing:
        parser.error(
            f"checkpoint not found: {', '.join(missing)}. Train first, e.g. "
            "`kedro run --pipelines=train_mlp --env quick`."
        )

    sets = puzzle_sets(args.puzzles, args.csv)
    results = {}
    for path in args.checkpoints:
        variant, rows = evaluate_checkpoint(path, sets)
        results[variant] = (path, rows)
    body = markdown(results, args.puzzles)
    print(body)
    if not args.no_write:
        write_section(args.doc, "bench_difficulty", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
