"""Benchmark the Sudoku data code: vectorized vs loop augmentation, and the solver.

    python benchmarks/bench_data.py [--num-puzzles 1000 --num-aug 1000 --loop-puzzles 20]

Loads the first ``--num-puzzles`` puzzles of ``<repo>/../shared/data/external_generated_5000.csv``,
times ``augment_puzzles`` on all of them, times the reference-style loop
``augment_puzzles_loop`` on ``--loop-puzzles`` of them and scales that linearly to the full
size, times ``solve_many`` on every puzzle of the file, prints the figures with the
machine's facts and writes them into docs/benchmarks.md between the markers
``<!-- bench_data:start -->`` and ``<!-- bench_data:end -->``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
try:
    from trm_pipeline import sudoku
except ModuleNotFoundError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
    from trm_pipeline import sudoku

# The script's folder is on sys.path. docs_section imports trm_pipeline, so it follows the
# fallback above.
from docs_section import write_section  # noqa: E402

DEFAULT_CSV = REPO / "../shared/data/external_generated_5000.csv"
DEFAULT_DOC = REPO / "docs/benchmarks.md"


def load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    puzzles = sudoku.parse_grids([r["question"] for r in rows])
    answers = sudoku.parse_grids([r["answer"] for r in rows])
    return puzzles, answers


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# /proc/cpuinfo flags of the vector units that set float32 and int8 matrix-product speed.
VECTOR_FLAGS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "avx512_bf16": "AVX-512 BF16",
    "amx_int8": "AMX int8",
}


def cpu_vector_units() -> str:
    """Return the CPU's vector extensions from ``VECTOR_FLAGS``, e.g. ``"AVX2 only"``."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "vector units unknown"
    flags = next(
        (set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set()
    )
    units = [name for flag, name in VECTOR_FLAGS.items() if flag in flags]
    if units == ["AVX2"]:
        return "AVX2 only"
    return ", ".join(units) if units else "no AVX2"


def machine_facts() -> dict[str, str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} logical" + (f", {usable} usable" if usable else ""),
        "Python": platform.python_version(),
        "numpy": np.__version__,
        "torch": "not imported" if "torch" not in sys.modules else "imported",
        "load average": "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
    }


def timed(fn, repeats: int):
    """Best wall time of ``repeats`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-puzzles", type=int, default=1000)
    parser.add_argument("--num-aug", type=int, default=1000)
    parser.add_argument("--loop-puzzles", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the vectorized run")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    if not args.csv.is_file():
        parser.error(f"puzzle file not found: {args.csv}")
    puzzles, answers = load_csv(args.csv)
    if args.num_puzzles > len(puzzles):
        parser.error(f"--num-puzzles {args.num_puzzles} > {len(puzzles)} puzzles in the file")
    p, a = puzzles[: args.num_puzzles], answers[: args.num_puzzles]
    n_loop = min(args.loop_puzzles, args.num_puzzles)
    rows = args.num_puzzles * (1 + args.num_aug)

    facts = machine_facts()
    print("machine:", "; ".join(f"{k} {v}" for k, v in facts.items()))

    vec_s, (inputs, labels, _) = timed(
        lambda: sudoku.augment_puzzles(p, a, args.num_aug, seed=0), args.repeats
    )
    ok = bool(
        sudoku.valid_solutions(labels[:: max(1, rows // 20_000)]).all()
        and sudoku.keeps_givens_batch(inputs, labels).all()
    )
    del inputs, labels
    print(
        f"augment_puzzles (vectorized): {args.num_puzzles} x {args.num_aug} -> {rows:,} rows"
        f" in {vec_s:.2f} s (best of {args.repeats}); outputs valid: {ok}"
    )

    loop_s, _ = timed(
        lambda: sudoku.augment_puzzles_loop(p[:n_loop], a[:n_loop], args.num_aug, 0), 1
    )
    loop_full_s = loop_s * args.num_puzzles / n_loop
    print(
        f"augment_puzzles_loop (reference style): {n_loop} x {args.num_aug} in {loop_s:.2f} s,"
        f" scaled linearly x{args.num_puzzles / n_loop:g} to {args.num_puzzles} puzzles:"
        f" {loop_full_s:.1f} s (estimate, not measured)"
    )
    ratio = loop_full_s / vec_s
    print(f"speed-up vectorized vs loop: {ratio:.0f}x (targets: >= 20x and < 10 s)")

    solve_s, results = timed(lambda: sudoku.solve_many(puzzles), 1)
    rate = len(puzzles) / solve_s
    unique = sum(r.num_solutions == 1 for r in results)
    correct = sum(
        r.solution is not None and np.array_equal(r.solution, ans)
        for r, ans in zip(results, answers, strict=True)
    )
    guesses = np.array([r.guesses for r in results])
    print(
        f"solve_many: {len(puzzles)} puzzles in {solve_s:.2f} s = {rate:.0f} puzzles/s"
        f" (single core); unique {unique}/{len(puzzles)}, equal to the file's answer"
        f" {correct}/{len(puzzles)}; guesses mean {guesses.mean():.1f}, max {guesses.max()}"
    )

    body = "\n".join(
        [
            "## Sudoku data (`benchmarks/bench_data.py`)",
            "",
            f"Measured {time.strftime('%Y-%m-%d')}. Machine: {facts['CPU']},"
            f" {facts['cores']} cores; Python {facts['Python']},"
            f" numpy {facts['numpy']}; torch {facts['torch']}; load average at start"
            f" {facts['load average']} (other work on the machine slows the figures).",
            f"Input: the first {args.num_puzzles} puzzles of `external_generated_5000.csv`.",
            "",
            "| what | size | time | note |",
            "| --- | --- | --- | --- |",
            f"| `augment_puzzles` (vectorized) | {args.num_puzzles} x {args.num_aug}"
            f" = {rows:,} rows | {vec_s:.2f} s | best of {args.repeats} |",
            f"| `augment_puzzles_loop` (reference-style loop) | {n_loop} x {args.num_aug}"
            f" | {loop_s:.2f} s | measured |",
            f"| `augment_puzzles_loop`, scaled | {args.num_puzzles} x {args.num_aug}"
            f" | {loop_full_s:.1f} s | linear estimate (x{args.num_puzzles / n_loop:g}) |",
            f"| speed-up | | {ratio:.0f}x | targets: >= 20x, vectorized < 10 s |",
            f"| `solve_many` | {len(puzzles)} puzzles | {solve_s:.2f} s |"
            f" {rate:.0f} puzzles/s, single core; {correct}/{len(puzzles)} correct |",
            "",
            "Rerun: `python benchmarks/bench_data.py`.",
        ]
    )
    if not args.no_write:
        write_section(args.doc, "bench_data", body)
        print(f"wrote the bench_data section of {args.doc}")
    return 0 if ok and correct == len(puzzles) else 1


if __name__ == "__main__":
    raise SystemExit(main())
