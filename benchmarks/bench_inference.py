"""Benchmark inference: the exported ONNX model on onnxruntime against PyTorch eager, on the CPU.

    python benchmarks/bench_inference.py [--batch 16] [--repeats 1] [--no-write]
        [--config NAME:hidden=512,heads=8,T=3,n=6,nsup=16,prefix=16 ...]

Builds a random-weight TRM per config (attention variant), exports one supervision step with
the project's exporter (cached under the temp folder, keyed by the sizes, since the export of
the paper config takes minutes), then measures

- per-puzzle latency: one puzzle solved end to end (``OnnxTRM.run``, the solver page's path,
  and ``run_to_halt`` in PyTorch) with ``learned`` and ``fixed`` halting;
- batch throughput: one supervision step of ``--batch`` puzzles after a warm-up step, scaled
  to N_sup steps (every step of a batch costs the same).

PyTorch runs in float32 like the export: on CPUs without native bfloat16 (AVX2 only)
bfloat16 matrix products are many times slower. The figures are printed and written into
docs/benchmarks.md between ``<!-- bench_inference:start -->`` and ``<!-- bench_inference:end -->``.
Without ``--config`` it runs the paper config (conf/base) and the quick config (conf/quick).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from bench_data import cpu_model, timed  # the script's folder is on sys.path
from docs_section import write_section

from trm_pipeline.export.dataset import OnnxModelDataset
from trm_pipeline.export.onnx_export import export_checkpoint
from trm_pipeline.export.runtime import HALTING_MODES, OnnxTRM, create_session
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.sudoku import TOKEN_MAP, generate_puzzles
from trm_pipeline.training.checkpoints import model_checkpoint

REPO = Path(__file__).resolve().parents[1]

DEFAULT_DOC = REPO / "docs/benchmarks.md"
PRESETS = {
    "paper": "hidden=512,heads=8,T=3,n=6,nsup=16,prefix=16",
    "quick": "hidden=64,heads=2,T=2,n=2,nsup=4,prefix=2",
}
KEYS = {
    "hidden": "hidden_size",
    "heads": "num_heads",
    "T": "num_deep_recursions",
    "n": "num_latent_steps",
    "nsup": "num_supervision_steps",
    "prefix": "puzzle_emb_len",
    "layers": "num_layers",
}
APP_TARGET_SECONDS = 2.0
# Step times are the best of at least this many runs.
STEP_REPEATS = 5


@dataclass
class Row:
    config: str
    measure: str
    halting: str
    onnx_s: float
    torch_s: float | None  # None: not measured
    steps: int
    unit: str

    def figures(self) -> tuple[str, str, str]:
        """onnxruntime, PyTorch and the speed-up of onnxruntime, as text."""
        if self.torch_s is None:
            return f"{self.onnx_s:.3g} {self.unit}", "-", "-"
        ratio = self.torch_s / self.onnx_s if self.unit == "s" else self.onnx_s / self.torch_s
        return f"{self.onnx_s:.3g} {self.unit}", f"{self.torch_s:.3g} {self.unit}", f"{ratio:.2f}x"


def parse_config(spec: str) -> tuple[str, TRMConfig]:
    """``NAME:key=value,...`` (or a preset name) to a float32 attention TRMConfig."""
    name, _, sizes = spec.partition(":")
    sizes = sizes or PRESETS.get(name, "")
    if not sizes:
        raise SystemExit(f"--config {spec!r}: give sizes, e.g. {name}:{PRESETS['quick']}")
    fields = {}
    for item in sizes.split(","):
        key, _, value = item.partition("=")
        if key not in KEYS:
            raise SystemExit(f"--config {spec!r}: unknown size {key!r}; use {sorted(KEYS)}")
        fields[KEYS[key]] = int(value)
    return name, TRMConfig(**fields, forward_dtype="float32")


def exported_model(
    config: TRMConfig, cache_dir: Path
) -> tuple[TinyRecursiveModel, Path, float, bool]:
    """A seeded random model, its export and the export's seconds; the export is reused from
    the cache when the sizes match (the last flag says so)."""
    torch.manual_seed(0)
    model = TinyRecursiveModel(config).eval()
    key = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"trm_{key}.onnx"
    timing = path.with_suffix(".json")  # the export time of the cached file
    if path.is_file() and timing.is_file():
        return model, path, json.loads(timing.read_text())["export_seconds"], True
    checkpoint = model_checkpoint(model.state_dict(), config, {"token_map": TOKEN_MAP})
    started = time.perf_counter()
    proto = export_checkpoint(checkpoint, "att")
    export_seconds = time.perf_counter() - started
    OnnxModelDataset(filepath=str(path)).save(proto)  # atomic: no half-written cache
    timing.write_text(json.dumps({"export_seconds": export_seconds}))
    return model, path, export_seconds, False


def step_seconds(step, repeats: int) -> float:
    """Best time of one supervision step after a warm-up run (allocations)."""
    step()
    return timed(step, max(repeats, STEP_REPEATS))[0]


def measure_onnx(onnx_model: OnnxTRM, puzzles: np.ndarray, repeats: int) -> dict:
    """Step times at batch 1 and at the full batch, and the page's end-to-end solve."""
    tokens = onnx_model.tokens_from_grids(puzzles)
    one, batch = (
        (tokens[:1], *onnx_model.initial_state(1)),
        (tokens, *onnx_model.initial_state(len(tokens))),
    )
    figures = {
        "step": step_seconds(lambda: onnx_model.step(*one), repeats),
        "batch_step": step_seconds(lambda: onnx_model.step(*batch), repeats),
    }
    for halting in HALTING_MODES:
        seconds, recursion = timed(lambda h=halting: onnx_model.run(puzzles[:1], h), repeats)
        figures[halting] = (seconds, int(recursion.steps[0]))
    return figures


@torch.inference_mode()
def measure_torch(model: TinyRecursiveModel, tokens: np.ndarray, repeats: int) -> dict:
    """Step times of PyTorch eager at batch 1 and at the full batch."""
    tokens = torch.from_numpy(tokens)
    one = (tokens[:1], *model.initial_state(1, "cpu"))
    batch = (tokens, *model.initial_state(len(tokens), "cpu"))
    return {
        "step": step_seconds(lambda: model(*one), repeats),
        "batch_step": step_seconds(lambda: model(*batch), repeats),
    }


def measure(name: str, model, onnx_model, puzzles: np.ndarray, repeats: int) -> list[Row]:
    """Latency per halting mode and batch throughput of both engines.

    Latency is the best step time at batch 1 times the steps the puzzle used, plus, for
    onnxruntime, one timed end-to-end solve on the solver page's path (``OnnxTRM.run``).
    onnxruntime's worker threads spin for a while after each run and would slow PyTorch on a
    small CPU, so each engine runs in its own phase with a pause between.
    """
    onnx = measure_onnx(onnx_model, puzzles, repeats)
    time.sleep(2.0)
    eager = measure_torch(model, onnx_model.tokens_from_grids(puzzles), repeats)
    rows = []
    for halting in HALTING_MODES:
        seconds, steps = onnx[halting]
        latency = ("latency, 1 puzzle", halting, onnx["step"] * steps, eager["step"] * steps)
        rows.append(Row(name, *latency, steps, "s"))
        rows.append(Row(name, "solve on the page path", halting, seconds, None, steps, "s"))
    num_steps = model.config.num_supervision_steps
    batch = len(puzzles)
    rows.append(
        Row(
            name,
            f"throughput, batch {batch}",
            "fixed (= learned here)",
            batch / (onnx["batch_step"] * num_steps),
            batch / (eager["batch_step"] * num_steps),
            num_steps,
            "puzzles/s",
        )
    )
    return rows


def target_lines(rows: list[Row]) -> list[str]:
    """Say whether the solver page's path answers one puzzle within the target."""
    lines = []
    for row in rows:
        if row.measure == "solve on the page path" and row.halting == "fixed":
            per_step = row.onnx_s / row.steps
            verdict = "meets" if row.onnx_s <= APP_TARGET_SECONDS else "misses"
            lines.append(
                f"Solver page target, one puzzle in under {APP_TARGET_SECONDS:.0f} s: the "
                f"{row.config} config {verdict} it with {row.onnx_s:.2f} s for {row.steps} "
                f"steps ({per_step:.3f} s per step, so {int(APP_TARGET_SECONDS // per_step)} "
                "steps fit in the target)."
            )
    return lines


def markdown(rows, exports, facts, batch) -> str:
    lines = [
        "## Inference: onnxruntime vs PyTorch eager (`benchmarks/bench_inference.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {facts}. Random-weight attention models, "
        "float32 on both engines (bfloat16 matrix products are far slower on this AVX2-only "
        "CPU). PyTorch runs the model's forward (one supervision step, eager, inference "
        "mode), onnxruntime the exported step.",
        "",
        "| config | measure | halting | steps | onnxruntime | PyTorch eager | speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        onnx_text, torch_text, ratio = row.figures()
        lines.append(
            f"| {row.config} | {row.measure} | {row.halting} | {row.steps} | {onnx_text} | "
            f"{torch_text} | {ratio} |"
        )
    lines += [
        "",
        "| config | sizes | export | session start | model.onnx |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, sizes, export, session_s, size_mb in exports:
        lines.append(f"| {name} | {sizes} | {export} | {session_s:.2f} s | {size_mb:.1f} MB |")
    lines += [
        "",
        "With random weights the halt logit stays at its initial bias (-5), so `learned` "
        "halting runs all N_sup steps like `fixed`; a trained model that halts after k steps "
        "answers in about k/N_sup of the `fixed` latency. Latency is the best of "
        f"{STEP_REPEATS} timed steps of one puzzle times the steps it used; throughput the "
        f"best of {STEP_REPEATS} timed steps of a batch of {batch}, scaled to N_sup steps. "
        "`solve on the page path` is one timed end-to-end `OnnxTRM.run` (what the solver "
        "page calls).",
        "The load average shows other work on the machine: on two shared cores repeated runs "
        "differ by up to 4x, PyTorch (whose threads wait on each other) more than onnxruntime.",
        *target_lines(rows),
        "",
        "Rerun: `python benchmarks/bench_inference.py`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", help="NAME[:key=value,...]; repeatable")
    parser.add_argument("--batch", type=int, default=16, help="batch of the throughput run")
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings")
    parser.add_argument(
        "--threads", type=int, help="threads of both engines (default: each engine's own)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "trm_bench_inference"
    )
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    ort_threads = args.threads or "one per core"
    facts = (
        f"{cpu_model()}, {os.cpu_count()} logical cores, load average at start "
        + " ".join(f"{value:.2f}" for value in os.getloadavg())
        + f"; torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
        f"{ort.__version__} ({ort_threads} threads), Python {platform.python_version()}"
    )
    print("machine:", facts)
    puzzles = generate_puzzles(args.batch, 22, 30, seed=0)[0]
    rows, exports = [], []
    for spec in args.config or list(PRESETS):
        name, config = parse_config(spec)
        model, path, export_s, cached = exported_model(config, args.cache_dir)
        session_s, session = timed(lambda p=path: create_session(p, "cpu", args.threads), 1)
        onnx_model = OnnxTRM(session, path)
        sizes = (
            f"hidden {config.hidden_size}, T={config.num_deep_recursions}, "
            f"n={config.num_latent_steps}, N_sup={config.num_supervision_steps}"
        )
        export = f"{export_s:.0f} s" + (" (cached)" if cached else "")
        exports.append((name, sizes, export, session_s, path.stat().st_size / 1e6))
        print(f"{name}: {sizes}; export {export}, session start {session_s:.2f} s")
        new_rows = measure(name, model, onnx_model, puzzles, args.repeats)
        for row in new_rows:
            onnx_text, torch_text, ratio = row.figures()
            print(
                f"  {row.measure:24s} {row.halting:22s} steps {row.steps:2d}: onnxruntime "
                f"{onnx_text}, PyTorch {torch_text}, speed-up {ratio}"
            )
        rows += new_rows
    body = markdown(rows, exports, facts, args.batch)
    if not args.no_write:
        write_section(args.doc, "bench_inference", body)
        print(f"wrote the bench_inference section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
