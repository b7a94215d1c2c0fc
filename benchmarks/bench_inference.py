"""Benchmark inference: the exported model on onnxruntime (float32 and int8) against PyTorch.

    python benchmarks/bench_inference.py [--batch 16] [--repeats 1] [--no-write]
        [--config NAME:variant=mlp,hidden=512,heads=8,T=3,n=6,nsup=16,prefix=16 ...]
        [--trained CHECKPOINT]

Builds a random-weight TRM per config, exports one supervision step with the project's
exporter and makes its int8 copy (both cached under the temp folder, keyed by the sizes, since
the export of the paper config takes minutes), then measures on the CPU

- per-puzzle latency: the best step time of one puzzle times N_sup, and the solver page's
  path (``OnnxTRM.run`` end to end) with ``learned`` and ``fixed`` halting;
- batch throughput: one supervision step of ``--batch`` puzzles after a warm-up step, scaled
  to N_sup steps (every step of a batch costs the same).

Random weights never halt early (the halt logit stays at its initial bias), so ``--trained``
(default: the test suite's trained quick MLP checkpoint) adds a trained model, whose learned
halting shows what halting saves; its page-path rows average the puzzles of one batch solved
one at a time.

PyTorch runs in float32 like the export: on CPUs without native bfloat16 (AVX2 only)
bfloat16 matrix products are many times slower. The figures are printed and written into
docs/benchmarks.md between ``<!-- bench_inference:start -->`` and ``<!-- bench_inference:end -->``.
Without ``--config`` it runs the paper's two variants (conf/base) and conf/quick's model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from bench_data import cpu_model, cpu_vector_units, timed  # the script's folder is on sys.path
from docs_section import write_section

from trm_pipeline.export.dataset import OnnxModelDataset
from trm_pipeline.export.onnx_export import export_checkpoint, float32_model_from_checkpoint
from trm_pipeline.export.quantization import quantize_int8
from trm_pipeline.export.runtime import HALTING_MODES, OnnxTRM, create_session
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.sudoku import TOKEN_MAP, generate_puzzles, grids_to_tokens
from trm_pipeline.training.checkpoints import load_checkpoint, model_checkpoint

REPO = Path(__file__).resolve().parents[1]

DEFAULT_DOC = REPO / "docs/benchmarks.md"
DEFAULT_TRAINED = REPO / "tests/fixtures/quick_mlp_best_model.pt"
PRESETS = {
    "paper-mlp": "variant=mlp,hidden=512,heads=8,T=3,n=6,nsup=16,prefix=16",
    "paper-att": "variant=att,hidden=512,heads=8,T=3,n=6,nsup=16,prefix=16",
    "quick-mlp": "variant=mlp,hidden=64,heads=2,T=2,n=2,nsup=4,prefix=2",
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
ENGINES = ("float32", "int8", "eager")
ENGINE_TITLES = {
    "float32": "onnxruntime float32",
    "int8": "onnxruntime int8",
    "eager": "PyTorch eager",
}
APP_TARGET_SECONDS = 2.0
# Step times are the best of at least this many runs.
STEP_REPEATS = 5


@dataclass
class Case:
    """One model measured on the three engines."""

    name: str
    model: TinyRecursiveModel
    paths: dict[str, Path]  # "float32" and "int8" files
    puzzles: np.ndarray  # [B, 81] values 0..9
    note: str = ""


@dataclass
class Row:
    config: str
    measure: str
    halting: str
    steps: str
    unit: str
    values: dict[str, float] = field(default_factory=dict)  # engine -> seconds or puzzles/s

    def cell(self, engine: str) -> str:
        value = self.values.get(engine)
        return "-" if value is None else f"{value:.3g} {self.unit}"

    def speedup(self, faster: str, slower: str) -> str:
        """Return how many times ``faster`` outpaces ``slower``, as text."""
        a, b = self.values.get(faster), self.values.get(slower)
        if a is None or b is None:
            return "-"
        return f"{b / a if self.unit == 's' else a / b:.2f}x"


def parse_config(spec: str) -> tuple[str, TRMConfig]:
    """``NAME:key=value,...`` (or a preset name) to a float32 TRMConfig."""
    name, _, sizes = spec.partition(":")
    sizes = sizes or PRESETS.get(name, "")
    if not sizes:
        raise SystemExit(f"--config {spec!r}: give sizes, e.g. {name}:{PRESETS['quick-mlp']}")
    fields = {}
    for item in sizes.split(","):
        key, _, value = item.partition("=")
        if key == "variant" and value in ("att", "mlp"):
            fields["mlp_t"] = value == "mlp"
            fields["pos_encodings"] = "none" if value == "mlp" else "rope"
        elif key in KEYS:
            fields[KEYS[key]] = int(value)
        else:
            raise SystemExit(
                f"--config {spec!r}: unknown size {item!r}; use variant=att|mlp or {sorted(KEYS)}"
            )
    return name, TRMConfig(**fields, forward_dtype="float32")


def cached_exports(
    checkpoint: dict, variant: str, key: str, cache_dir: Path
) -> tuple[dict[str, Path], float, bool]:
    """Export ``checkpoint`` and make its int8 copy, or reuse both from the cache.

    Returns the two paths, the export's seconds and whether they came from the cache.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = {"float32": cache_dir / f"trm_{key}.onnx", "int8": cache_dir / f"trm_{key}_int8.onnx"}
    timing = cache_dir / f"trm_{key}.json"  # the export time of the cached file
    if all(path.is_file() for path in paths.values()) and timing.is_file():
        return paths, json.loads(timing.read_text())["export_seconds"], True
    started = time.perf_counter()
    proto = export_checkpoint(checkpoint, variant)
    export_seconds = time.perf_counter() - started
    OnnxModelDataset(filepath=str(paths["float32"])).save(proto)  # atomic writes
    OnnxModelDataset(filepath=str(paths["int8"])).save(quantize_int8(proto))
    timing.write_text(json.dumps({"export_seconds": export_seconds}))
    return paths, export_seconds, False


def random_case(spec: str, cache_dir: Path, puzzles: np.ndarray) -> tuple[Case, float, bool]:
    """Build a seeded random-weight model of a config and export it (or reuse the cache)."""
    name, config = parse_config(spec)
    torch.manual_seed(0)
    model = TinyRecursiveModel(config).eval()
    key = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    checkpoint = model_checkpoint(model.state_dict(), config, {"token_map": TOKEN_MAP})
    variant = "mlp" if config.mlp_t else "att"
    paths, export_s, cached = cached_exports(checkpoint, variant, key, cache_dir)
    return Case(name, model, paths, puzzles), export_s, cached


def trained_case(path: Path, cache_dir: Path, batch: int) -> tuple[Case, float, bool]:
    """Load the trained checkpoint at ``path`` and draw puzzles like its training data."""
    checkpoint = load_checkpoint(path)
    model = float32_model_from_checkpoint(checkpoint)
    key = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    variant = "mlp" if model.config.mlp_t else "att"
    paths, export_s, cached = cached_exports(checkpoint, variant, key, cache_dir)
    settings = checkpoint["dataset_metadata"].get("source_settings", {})
    givens = settings.get("min_givens", 41), settings.get("max_givens", 51)
    puzzles = generate_puzzles(batch, *givens, seed=1)[0]
    note = f"{givens[0]}-{givens[1]} givens"
    return Case(f"trained {variant} ({path.stem})", model, paths, puzzles, note), export_s, cached


def step_seconds(step, repeats: int) -> float:
    """Best time of one supervision step after a warm-up run (allocations)."""
    step()
    return timed(step, max(repeats, STEP_REPEATS))[0]


def measure_onnx(onnx_model: OnnxTRM, puzzles: np.ndarray, repeats: int, solves: int) -> dict:
    """Time a step at batch 1 and at the full batch, and the page's end-to-end solves.

    For each halting mode the first ``solves`` puzzles are solved one at a time on the page's
    path. The mean seconds and mean steps are kept.
    """
    tokens = onnx_model.tokens_from_grids(puzzles)
    one_puzzle = (tokens[:1], *onnx_model.initial_state(1))
    batch = (tokens, *onnx_model.initial_state(len(tokens)))
    figures = {
        "step": step_seconds(lambda: onnx_model.step(*one_puzzle), repeats),
        "batch_step": step_seconds(lambda: onnx_model.step(*batch), repeats),
    }
    for halting in HALTING_MODES:
        runs = [
            timed(lambda h=halting, i=index: onnx_model.run(puzzles[i : i + 1], h), repeats)
            for index in range(solves)
        ]
        seconds = float(np.mean([run[0] for run in runs]))
        steps = float(np.mean([run[1].steps[0] for run in runs]))
        figures[halting] = (seconds, steps)
    return figures


@torch.inference_mode()
def measure_torch(model: TinyRecursiveModel, tokens: np.ndarray, repeats: int) -> dict:
    """Step times of PyTorch eager at batch 1 and at the full batch."""
    tokens = torch.from_numpy(tokens)
    one_puzzle = (tokens[:1], *model.initial_state(1, "cpu"))
    batch = (tokens, *model.initial_state(len(tokens), "cpu"))
    return {
        "step": step_seconds(lambda: model(*one_puzzle), repeats),
        "batch_step": step_seconds(lambda: model(*batch), repeats),
    }


def measure(case: Case, threads: int | None, repeats: int, solves: int) -> tuple[list[Row], dict]:
    """Latency, the page's solves and batch throughput of the three engines.

    onnxruntime's worker threads spin for a while after each run and would slow the next
    engine on a small CPU, so each engine runs in its own phase with a pause between.

    Returns the rows and, per onnxruntime engine, its session start seconds and file MB.
    """
    figures, files = {}, {}
    for engine in ("float32", "int8"):
        path = case.paths[engine]
        session_s, session = timed(lambda p=path: create_session(p, "cpu", threads), 1)
        files[engine] = (session_s, path.stat().st_size / 1e6)
        figures[engine] = measure_onnx(OnnxTRM(session, path), case.puzzles, repeats, solves)
        del session
        time.sleep(2.0)
    tokens = grids_to_tokens(case.puzzles).astype(np.int64)
    figures["eager"] = measure_torch(case.model, tokens, repeats)
    num_steps = case.model.config.num_supervision_steps
    batch = len(case.puzzles)
    latency = Row(case.name, "latency, 1 puzzle", "fixed", str(num_steps), "s")
    throughput = Row(case.name, f"throughput, batch {batch}", "fixed", str(num_steps), "puzzles/s")
    for engine in ENGINES:
        latency.values[engine] = figures[engine]["step"] * num_steps
        throughput.values[engine] = batch / (figures[engine]["batch_step"] * num_steps)
    rows = [latency]
    for halting in HALTING_MODES:
        steps = {engine: figures[engine][halting][1] for engine in ("float32", "int8")}
        measure_name = "solve on the page path" + (f", mean of {solves}" if solves > 1 else "")
        steps_text = " / ".join(f"{value:.3g}" for value in steps.values())
        if len(set(steps.values())) == 1:
            steps_text = f"{steps['float32']:.3g}"
        row = Row(case.name, measure_name, halting, steps_text, "s")
        for engine in ("float32", "int8"):
            row.values[engine] = figures[engine][halting][0]
        rows.append(row)
    rows.append(throughput)
    return rows, files


def target_lines(rows: list[Row]) -> list[str]:
    """Say whether the solver page's path answers one puzzle within the target."""
    lines = []
    for row in rows:
        if not row.measure.startswith("solve on the page path") or row.halting != "fixed":
            continue
        for engine in ("float32", "int8"):
            seconds = row.values[engine]
            verdict = "meets" if seconds <= APP_TARGET_SECONDS else "misses"
            lines.append(
                f"- {row.config}, onnxruntime {engine}: {verdict} it with {seconds:.2f} s for "
                f"{row.steps} fixed steps."
            )
    return lines


def markdown(rows: list[Row], exports: list[tuple], facts: str, batch: int) -> str:
    titles = " | ".join(ENGINE_TITLES[engine] for engine in ENGINES)
    lines = [
        "## Inference: onnxruntime float32 and int8 vs PyTorch eager "
        "(`benchmarks/bench_inference.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {facts}. PyTorch runs the model's forward "
        "(one supervision step, eager, inference mode, float32 like the export), onnxruntime "
        "the exported step (`model.onnx`) and "
        "its int8 copy (`model_int8.onnx`). `paper-*` and `quick-mlp` have random weights; "
        "the trained model is the test suite's quick MLP checkpoint.",
        "",
        f"| config | measure | halting | steps | {titles} | float32 vs eager | int8 vs float32 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = " | ".join(row.cell(engine) for engine in ENGINES)
        lines.append(
            f"| {row.config} | {row.measure} | {row.halting} | {row.steps} | {cells} | "
            f"{row.speedup('float32', 'eager')} | {row.speedup('int8', 'float32')} |"
        )
    lines += [
        "",
        "| config | sizes | export | session start float32 / int8 | model.onnx | model_int8.onnx |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, sizes, export, files in exports:
        (start32, mb32), (start8, mb8) = files["float32"], files["int8"]
        lines.append(
            f"| {name} | {sizes} | {export} | {start32:.2f} s / {start8:.2f} s | "
            f"{mb32:.1f} MB | {mb8:.1f} MB |"
        )
    lines += [
        "",
        "Latency is the best of "
        f"{STEP_REPEATS} timed steps of one puzzle times N_sup; throughput the best of "
        f"{STEP_REPEATS} timed steps of a batch of {batch}, scaled to N_sup steps. `solve on "
        "the page path` times `OnnxTRM.run` end to end (what the solver page calls); its steps "
        "column gives the steps used (float32 / int8 where they differ). With random weights "
        "the halt logit stays at its initial bias, so `learned` runs all N_sup steps like "
        "`fixed`; the trained model shows learned halting. On two cores other work changes "
        "the figures by up to 4x between runs; the ratios come from one run.",
        "",
        f"Solver page target, one puzzle in under {APP_TARGET_SECONDS:.0f} s with fixed "
        "halting (the slowest case):",
        *target_lines(rows),
        "",
        "Rerun: `python benchmarks/bench_inference.py`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", help="NAME[:key=value,...]; repeatable")
    parser.add_argument(
        "--trained",
        type=Path,
        default=DEFAULT_TRAINED,
        help="a trained best_model checkpoint to add (default: %(default)s); 'none' skips it",
    )
    parser.add_argument("--batch", type=int, default=16, help="batch of the throughput run")
    parser.add_argument("--solves", type=int, default=8, help="page solves of the trained model")
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
        f"{cpu_model()} ({cpu_vector_units()}), {os.cpu_count()} logical cores, load average "
        "at start "
        + " ".join(f"{value:.2f}" for value in os.getloadavg())
        + f"; torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
        f"{ort.__version__} ({ort_threads} threads), Python {platform.python_version()}"
    )
    print("machine:", facts)
    puzzles = generate_puzzles(args.batch, 22, 30, seed=0)[0]
    cases = [random_case(spec, args.cache_dir, puzzles) for spec in args.config or PRESETS]
    if str(args.trained) != "none":
        cases.append(trained_case(args.trained, args.cache_dir, args.batch))
    rows, exports = [], []
    for case, export_s, cached in cases:
        config = case.model.config
        sizes = (
            f"{'mlp' if config.mlp_t else 'att'}, hidden {config.hidden_size}, "
            f"T={config.num_deep_recursions}, n={config.num_latent_steps}, "
            f"N_sup={config.num_supervision_steps}"
        ) + (f", {case.note}" if case.note else "")
        export = f"{export_s:.0f} s" + (" (cached)" if cached else "")
        solves = args.solves if case.note else 1
        new_rows, files = measure(case, args.threads, args.repeats, solves)
        exports.append((case.name, sizes, export, files))
        print(f"{case.name}: {sizes}; export {export}")
        for row in new_rows:
            cells = ", ".join(f"{engine} {row.cell(engine)}" for engine in ENGINES)
            print(f"  {row.measure:34s} {row.halting:7s} steps {row.steps:>9s}: {cells}")
        rows += new_rows
    body = markdown(rows, exports, facts, args.batch)
    if not args.no_write:
        write_section(args.doc, "bench_inference", body)
        print(f"wrote the bench_inference section of {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
