"""Compare the accuracy of exported models with their int8 copies on a whole test split.

    python benchmarks/bench_int8_accuracy.py data/06_models/train_mlp \
        data/06_models/train_att [--test data/03_primary/test_puzzles.npz] [--no-write]

Each argument is a model folder written by a training pipeline, holding ``model.onnx`` and
``model_int8.onnx``. Both files solve every puzzle of the test split on onnxruntime (CPU) with
``fixed`` and ``learned`` halting. The script reports exact accuracy (with its 95% Wilson
interval), blank-cell accuracy, mean steps and the share of puzzles solved identically.
The export's own verification checks the int8 copy on a seeded subset; this covers the split.
The figures are printed and written into docs/benchmarks.md between
``<!-- bench_int8_accuracy:start -->`` and ``<!-- bench_int8_accuracy:end -->``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:  # a checkout without `pip install -e .` works too
    sys.path.append(str(REPO / "src"))

# The script's folder is on sys.path.
from bench_data import machine_facts  # noqa: E402
from docs_section import write_section  # noqa: E402

from trm_pipeline.evaluation.stats import wilson_interval  # noqa: E402
from trm_pipeline.export.runtime import (  # noqa: E402
    HALTING_MODES,
    MODEL_FILES,
    ModelLoadError,
    OnnxTRM,
    stale_int8_message,
)

DEFAULT_TEST = REPO / "data/03_primary/test_puzzles.npz"
DEFAULT_DOC = REPO / "docs/benchmarks.md"


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``[N, 81]`` puzzles (0 = blank) and solutions from the data pipeline's test split."""
    if not path.is_file():
        raise SystemExit(
            f"{path} not found; build the test split with `kedro run "
            "--pipelines=data_processing --env quick` or pass --test."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive["question"].astype(np.int64), archive["answer"].astype(np.int64)
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(
            f"{path} is not a test split with 'question' and 'answer' arrays ({error}); pass "
            "the data pipeline's data/03_primary/test_puzzles.npz."
        ) from error


def evaluate(model: OnnxTRM, puzzles: np.ndarray, solutions: np.ndarray, halting: str) -> dict:
    recursion = model.run(puzzles, halting=halting)
    answers = recursion.final_digits.astype(np.int64)
    correct = answers == solutions
    solved = correct.all(axis=1)
    return {
        "answers": answers,
        "solved": int(solved.sum()),
        "exact": float(solved.mean()),
        "blank": float(correct[puzzles == 0].mean()),
        "steps": float(recursion.steps.mean()),
    }


def compare(folder: Path, puzzles: np.ndarray, solutions: np.ndarray) -> list[dict]:
    """Return one row per halting mode and file; int8 rows give the agreement with float32."""
    models = {}
    for precision, name in MODEL_FILES.items():
        path = folder / name
        if not path.is_file():
            raise SystemExit(
                f"{path} not found; run the training pipeline that exports {folder.name} "
                "(e.g. `kedro run --pipelines=train_mlp --env quick`)."
            )
        try:
            models[precision] = OnnxTRM.load(path, device="cpu")
        except ModelLoadError as error:
            raise SystemExit(str(error)) from error
    stale = stale_int8_message(models["int8"], folder / MODEL_FILES["int8"])
    if stale is not None:
        raise SystemExit(stale)
    rows = []
    for halting in HALTING_MODES:
        results = {
            precision: evaluate(model, puzzles, solutions, halting)
            for precision, model in models.items()
        }
        same = (results["float32"]["answers"] == results["int8"]["answers"]).all(axis=1)
        for precision, result in results.items():
            low, high = wilson_interval(result["solved"], len(puzzles))
            rows.append(
                {
                    "model": f"{models[precision].info.variant} ({folder.name})",
                    "precision": precision,
                    "halting": halting,
                    **result,
                    "interval": (low, high),
                    "agree": float(same.mean()) if precision == "int8" else None,
                }
            )
    return rows


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def markdown(rows: list[dict], test_path: Path, count: int) -> str:
    facts = machine_facts()
    lines = [
        "## Int8 copy accuracy (`benchmarks/bench_int8_accuracy.py`)",
        "",
        f"Measured {datetime.date.today()} on {facts['CPU']}, onnxruntime CPU, with all "
        f"{count} puzzles of `{test_path.name}` (the models' own test split).",
        "",
        "| model | file | halting | exact accuracy (95% interval) | blank-cell | mean steps | "
        "same answer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        low, high = row["interval"]
        lines.append(
            f"| {row['model']} | {row['precision']} | {row['halting']} | "
            f"{row['exact']:.1%} ({low:.1%}-{high:.1%}) | {row['blank']:.2%} | "
            f"{row['steps']:.2f} | {_share(row['agree'])} |"
        )
    lines += [
        "",
        "`same answer` is the share of puzzles where the int8 copy's answer equals float32's.",
        "Rerun: `python benchmarks/bench_int8_accuracy.py <model folders> --test <split.npz>`",
        "(it rewrites this section; `--no-write` prints only).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="data/06_models/<pipeline>")
    parser.add_argument("--test", type=Path, default=DEFAULT_TEST, help="test split (.npz)")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    puzzles, solutions = load_split(args.test)
    rows = [row for folder in args.folders for row in compare(folder, puzzles, solutions)]
    for row in rows:
        print(
            f"{row['model']:28s} {row['precision']:7s} {row['halting']:7s} exact "
            f"{row['exact']:.1%} blank {row['blank']:.2%} steps {row['steps']:.2f} "
            f"same as float32 {_share(row['agree'])}"
        )
    if not args.no_write:
        write_section(args.doc, "bench_int8_accuracy", markdown(rows, args.test, len(puzzles)))
        print(f"wrote the bench_int8_accuracy section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
