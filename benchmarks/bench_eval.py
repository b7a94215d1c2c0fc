"""Benchmark test-set evaluation: puzzles per second with fixed and learned halting.

    python benchmarks/bench_eval.py [--paper-puzzles 8 --paper-steps 2 --quick-puzzles 128]

Times ``evaluate_model`` on real puzzles from ``<repo>/../shared/data/external_generated_5000.csv``
with randomly initialised attention models in float32: the paper's Sudoku config of
conf/base (hidden 512, T=3, n=6, N_sup=16) and the laptop config of conf/quick. Every
supervision step of a batch costs the same, so the paper config runs only ``--paper-steps``
steps and its time is scaled to N_sup.
FLOPs per supervision step are counted with ``torch.utils.flop_counter`` for the attention
and the MLP variant. The script prints the figures and writes them into docs/benchmarks.md
between ``<!-- bench_eval:start -->`` and ``<!-- bench_eval:end -->``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:  # a checkout without `pip install -e .` works too
    sys.path.append(str(REPO / "src"))

# The script's folder is on sys.path.
from bench_data import cpu_model  # noqa: E402
from docs_section import write_section  # noqa: E402

from trm_pipeline.evaluation import evaluate_model  # noqa: E402
from trm_pipeline.model.config import TRMConfig  # noqa: E402
from trm_pipeline.model.network import HALT_BIAS_INIT, TinyRecursiveModel  # noqa: E402
from trm_pipeline.sudoku import grids_to_tokens, parse_grids  # noqa: E402

DEFAULT_CSV = REPO / "../shared/data/external_generated_5000.csv"
DEFAULT_DOC = REPO / "docs/benchmarks.md"
FULL_TEST_SET = 422_786  # Sudoku-Extreme test puzzles
# NVIDIA H100 SXM5 dense bfloat16 tensor-core peak (datasheet, without sparsity), and the
# share of it that the estimate assumes evaluation reaches.
H100_BF16_FLOPS = 989.4e12
H100_UTILISATION = 0.30

# Model parameters of the attention variant in each Kedro environment.
CONFIG_FILES = {
    "paper": REPO / "conf/base/parameters_training.yml",
    "quick": REPO / "conf/quick/parameters_training.yml",
}


def model_params(name: str) -> dict:
    """Read ``train_att.model`` of the environment ``name`` (``paper`` is conf/base)."""
    values = yaml.safe_load(CONFIG_FILES[name].read_text(encoding="utf-8"))
    params = dict(values["train_att"]["model"])
    if name != "paper":  # other environments override conf/base key by key
        base = yaml.safe_load(CONFIG_FILES["paper"].read_text(encoding="utf-8"))
        params = {**base["train_att"]["model"], **params}
    return params


def model_config(name: str, mlp_t: bool = False) -> TRMConfig:
    """Build the config of ``name`` in float32, as the attention or the MLP variant."""
    params = model_params(name)
    params.update(mlp_t=mlp_t, pos_encodings="none" if mlp_t else "rope", forward_dtype="float32")
    return TRMConfig(**params)


def describe(config: TRMConfig) -> str:
    return (
        f"hidden {config.hidden_size}, T={config.num_deep_recursions}, "
        f"n={config.num_latent_steps}, N_sup={config.num_supervision_steps}"
    )


def load_puzzles(path: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``count`` puzzles and solutions from the CSV as [N, 81] model tokens."""
    with path.open(newline="") as handle:
        rows = list(itertools.islice(csv.DictReader(handle), count))
    if len(rows) < count:
        raise SystemExit(f"{path} contains only {len(rows)} puzzles; request at most that many.")
    inputs = grids_to_tokens(parse_grids([row["question"] for row in rows]))
    labels = grids_to_tokens(parse_grids([row["answer"] for row in rows]))
    return inputs, labels


def flops_per_step(config: TRMConfig) -> float:
    """Count the FLOPs of one supervision step of one puzzle."""
    model = TinyRecursiveModel(config).eval()
    tokens = torch.full((1, config.seq_len), 2, dtype=torch.long)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(tokens, *model.initial_state(1, "cpu"))
    return float(counter.get_total_flops())


def time_evaluation(
    config: TRMConfig,
    inputs: np.ndarray,
    labels: np.ndarray,
    halting: str,
    steps: int,
    repeats: int,
) -> tuple[float, float]:
    """Evaluate in one batch for ``steps`` steps; return the best seconds and mean steps used."""
    torch.manual_seed(0)
    model = TinyRecursiveModel(config).eval()
    evaluate_model(model, inputs[:2], labels[:2], batch_size=2, max_steps=1, progress=False)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = evaluate_model(
            model,
            inputs,
            labels,
            batch_size=len(inputs),
            halting=halting,
            max_steps=steps,
            progress=False,
        )
        best = min(best, time.perf_counter() - started)
    return best, float(result.steps.mean())


def measure(name: str, inputs, labels, steps: int, repeats: int) -> list[dict]:
    """Time both halting modes of one config; scale the time to N_sup steps."""
    config = model_config(name)
    rows = []
    for halting in ("fixed", "learned"):
        seconds, mean_steps = time_evaluation(config, inputs, labels, halting, steps, repeats)
        scale = config.num_supervision_steps / steps
        rate = len(inputs) / (seconds * scale)
        rows.append(
            {
                "config": name,
                "halting": halting,
                "puzzles": len(inputs),
                "steps_run": steps,
                "mean_steps": mean_steps,
                "seconds": seconds,
                "rate": rate,
                "full_test_hours": FULL_TEST_SET / rate / 3600,
            }
        )
        print(
            f"{name:6s} {halting:8s} {len(inputs)} puzzles x {steps} steps: {seconds:.1f} s;"
            f" {rate:.3f} puzzles/s at N_sup={config.num_supervision_steps};"
            f" full test set {FULL_TEST_SET / rate / 3600:.1f} h (estimate)"
        )
    return rows


def h100_estimate(name: str, mlp_t: bool) -> dict:
    config = model_config(name, mlp_t)
    per_puzzle = flops_per_step(config) * config.num_supervision_steps
    total = per_puzzle * FULL_TEST_SET
    seconds = total / (H100_BF16_FLOPS * H100_UTILISATION)
    return {
        "config": name,
        "variant": "mlp" if mlp_t else "att",
        "gflop_per_puzzle": per_puzzle / 1e9,
        "total_pflop": total / 1e15,
        "h100_minutes": seconds / 60,
    }


def _minutes(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes >= 1 else f"{60 * minutes:.0f} s"


def markdown(timings: list[dict], estimates: list[dict], facts: str, args) -> str:
    lines = [
        "## Test-set evaluation (`benchmarks/bench_eval.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {facts}. Randomly initialised attention "
        "models in float32, real puzzles from `external_generated_5000.csv`, one batch per run, "
        f"best of {args.repeats} runs.",
        f"The paper config of conf/base ({describe(model_config('paper'))}) ran "
        f"{args.paper_steps} supervision steps and its time is scaled to N_sup, because every "
        f"step of a batch costs the same. The quick config of conf/quick "
        f"({describe(model_config('quick'))}) ran its whole budget.",
        "",
        "| config | halting | puzzles | steps run | mean steps used | time | puzzles/s at N_sup "
        "| full test set (422,786) on this CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in timings:
        lines.append(
            f"| {row['config']} | {row['halting']} | {row['puzzles']} | {row['steps_run']} "
            f"| {row['mean_steps']:.1f} | {row['seconds']:.1f} s | {row['rate']:.3f} "
            f"| {row['full_test_hours']:,.1f} h (estimate) |"
        )
    lines += [
        "",
        f"With random weights the halt logit is the initial bias {HALT_BIAS_INIT:g} and never "
        "turns positive, so `learned` "
        "halting runs the whole budget. Its row differs from `fixed` only by the cost of the "
        "halting check and by measurement noise. With a trained model a batch still runs until "
        "its last puzzle halts, so learned halting saves time only when every puzzle of a batch "
        "halts early.",
        "",
        "Full test set on one H100, estimated from the counted FLOPs "
        f"(`torch.utils.flop_counter`) at an assumed {H100_UTILISATION:.0%} of the "
        f"{H100_BF16_FLOPS / 1e12:.1f} TFLOP/s dense bfloat16 peak of an H100 SXM5, N_sup steps "
        "per puzzle:",
        "",
        "| config | variant | GFLOP per puzzle | total PFLOP | time on one H100 (estimate) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in estimates:
        lines.append(
            f"| {row['config']} | {row['variant']} | {row['gflop_per_puzzle']:.1f} "
            f"| {row['total_pflop']:.3g} | {_minutes(row['h100_minutes'])} |"
        )
    lines += ["", "Rerun: `python benchmarks/bench_eval.py`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper-puzzles", type=int, default=8, help="batch of the paper config")
    parser.add_argument("--paper-steps", type=int, default=2, help="steps run, scaled to N_sup")
    parser.add_argument("--quick-puzzles", type=int, default=128, help="batch of the quick config")
    parser.add_argument("--repeats", type=int, default=2, help="best of N timed runs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: torch's default). One thread gives the steadiest figures on a "
        "machine shared with other work",
    )
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        parser.error(f"puzzle file not found: {args.csv}")
    if args.threads:
        torch.set_num_threads(args.threads)

    facts = (
        f"{cpu_model()}, {os.cpu_count()} logical cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} thread(s), load average at start "
        + " ".join(f"{value:.2f}" for value in os.getloadavg())
    )
    print("machine:", facts)
    inputs, labels = load_puzzles(args.csv, max(args.paper_puzzles, args.quick_puzzles))
    paper = slice(0, args.paper_puzzles)
    timings = measure("paper", inputs[paper], labels[paper], args.paper_steps, args.repeats)
    quick_steps = model_config("quick").num_supervision_steps
    quick = slice(0, args.quick_puzzles)
    timings += measure("quick", inputs[quick], labels[quick], quick_steps, args.repeats)
    estimates = [h100_estimate(name, mlp_t) for name in CONFIG_FILES for mlp_t in (False, True)]
    for row in estimates:
        print(
            f"{row['config']:6s} {row['variant']}: {row['gflop_per_puzzle']:.1f} GFLOP per "
            f"puzzle, {row['total_pflop']:.3g} PFLOP for the test set, "
            f"{_minutes(row['h100_minutes'])} on one H100 (estimate)"
        )
    if not args.no_write:
        write_section(args.doc, "bench_eval", markdown(timings, estimates, facts, args))
        print(f"wrote the bench_eval section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
