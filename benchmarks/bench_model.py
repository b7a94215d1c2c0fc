"""Time one TRM training supervision step and compare it with in-run matmul throughput.

Each measured step is ``act_step`` + ``act_loss`` + backward (no optimizer update), after
warm-up. Model FLOPs are counted analytically from the matmuls of the T * (n + 1) net calls.
No-gradient cycles count once, and the gradient cycle counts 3x for forward plus backward. The
attention score/value products and the output head are included. Model FLOP utilisation is that
count divided by the step time and by the best large square ``torch.matmul`` rate measured in the
same run. Results are printed and written to docs/benchmarks.md between the bench_model markers.

Example::

    python benchmarks/bench_model.py --threads 1 --paper-batch 2 --quick-batch 8
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from docs_section import write_section  # the script's folder is on sys.path

from trm_pipeline.model import TinyRecursiveModel, TRMConfig, act_loss, act_step, initial_carry
from trm_pipeline.model.layers import swiglu_width

DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
VARIANTS = {"attention": {}, "mlp": {"mlp_t": True, "pos_encodings": "none"}}
LAYOUTS = ("nn", "nt", "tn", "tt")
# bf16 "nn" and "tt" products ran about 10x slower than these two on AVX2-only CPUs, so the
# repeated peak measurements skip them to save time. The full table is measured once at start.
FAST_BFLOAT16_LAYOUTS = ("nt", "tn")


@dataclass
class Result:
    variant: str
    label: str
    config: TRMConfig
    batch: int
    seconds_per_step: float
    flops_per_step: float


def net_call_flops(config: TRMConfig, batch: int) -> float:
    """Return the matmul FLOPs of one forward call of the reasoning net."""
    length, width = config.total_len, config.hidden_size
    tokens = batch * length
    channel_inner = swiglu_width(width, config.expansion)
    per_block = 2 * tokens * 3 * width * channel_inner  # fused gate/up, then down
    if config.mlp_t:
        token_inner = swiglu_width(length, config.expansion)
        per_block += 2 * batch * width * 3 * length * token_inner
    else:
        per_block += 2 * tokens * 4 * width * width  # qkv and output projections
        per_block += 2 * 2 * batch * length * length * width  # q @ k^T and weights @ v
    return config.num_layers * per_block


def step_flops(config: TRMConfig, batch: int) -> float:
    """Return the matmul FLOPs of one supervision step with its backward pass."""
    calls_per_cycle = config.num_latent_steps + 1
    per_call = net_call_flops(config, batch)
    head = 2 * batch * config.seq_len * config.hidden_size * config.vocab_size
    no_grad = (config.num_deep_recursions - 1) * calls_per_cycle * per_call
    return no_grad + 3 * (calls_per_cycle * per_call + head)


def matmul_rate(
    dtype: torch.dtype, size: int, repeats: int, layouts: tuple[str, ...] = LAYOUTS
) -> dict[str, float]:
    """Return FLOP/s of square matmuls for each operand layout.

    Layout "nt" means a row-major left operand times a transposed view on the right. The bf16
    kernels of AVX2-only CPUs differ by up to 20x between layouts, so several are measured.
    """
    left = torch.randn(size, size, dtype=dtype)
    right = torch.randn(size, size, dtype=dtype)
    rates = {}
    for layout in layouts:
        a = left.t() if layout[0] == "t" else left
        b = right.t() if layout[1] == "t" else right
        torch.matmul(a, b)
        start = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(a, b)
        rates[layout] = 2 * size**3 * repeats / (time.perf_counter() - start)
    return rates


def update_peaks(best: dict[str, float], size: int) -> None:
    """Raise the ``best`` FLOP/s per dtype to any faster matmul rate measured now.

    Other processes on a shared machine slow single measurements down, so the peak is the
    fastest rate seen before, between and after the timed steps.
    """
    fast = matmul_rate(torch.bfloat16, size, 3, FAST_BFLOAT16_LAYOUTS)
    best["bfloat16"] = max(best["bfloat16"], *fast.values())
    best["float32"] = max(best["float32"], *matmul_rate(torch.float32, size, 3).values())


def time_training_step(config: TRMConfig, batch: int, warmup: int, iters: int) -> float:
    """Return the mean seconds of act_step + act_loss + backward after warm-up."""
    torch.manual_seed(0)
    model = TinyRecursiveModel(config).train()
    tokens = torch.randint(1, config.vocab_size, (batch, config.seq_len))
    labels = torch.randint(2, config.vocab_size, (batch, config.seq_len))
    carry = initial_carry(model, batch, "cpu")

    def one_step() -> None:
        nonlocal carry
        carry, output = act_step(model, carry, tokens, labels, training=True)
        loss, _ = act_loss(output, carry, config.loss_type)
        (loss / batch).backward()
        model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        one_step()
    start = time.perf_counter()
    for _ in range(iters):
        one_step()
    return (time.perf_counter() - start) / iters


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch intra-op threads (default: torch's choice)",
    )
    parser.add_argument("--paper-batch", type=int, default=2, help="batch of the paper config")
    parser.add_argument("--paper-iters", type=int, default=1, help="timed steps, paper config")
    parser.add_argument("--quick-hidden", type=int, default=256, help="hidden size D, quick")
    parser.add_argument("--quick-heads", type=int, default=4, help="attention heads, quick")
    parser.add_argument("--quick-recursions", type=int, default=2, help="T, quick config")
    parser.add_argument("--quick-latent-steps", type=int, default=2, help="n, quick config")
    parser.add_argument("--quick-batch", type=int, default=8, help="batch of the quick config")
    parser.add_argument("--quick-iters", type=int, default=2, help="timed steps, quick config")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    parser.add_argument("--matmul-size", type=int, default=1024, help="square matmul size")
    parser.add_argument("--docs", type=Path, default=DOCS_PATH, help="Markdown file to update")
    parser.add_argument("--no-docs", action="store_true", help="print only")
    return parser.parse_args()


def build_configs(args: argparse.Namespace) -> list[tuple[str, str, TRMConfig, int, int]]:
    runs = []
    for variant, overrides in VARIANTS.items():
        paper = TRMConfig(forward_dtype=args.dtype, **overrides)
        quick = TRMConfig(
            hidden_size=args.quick_hidden,
            num_heads=args.quick_heads,
            num_deep_recursions=args.quick_recursions,
            num_latent_steps=args.quick_latent_steps,
            forward_dtype=args.dtype,
            **overrides,
        )
        runs.append((variant, "paper", paper, args.paper_batch, args.paper_iters))
        runs.append((variant, "quick", quick, args.quick_batch, args.quick_iters))
    return runs


def format_report(
    results: list[Result],
    layout_table: dict[str, dict[str, float]],
    best: dict[str, float],
    setup: list[str],
    command: str,
) -> str:
    lines = ["## Model training step (`benchmarks/bench_model.py`)", ""]
    lines += [f"- {line}" for line in setup]
    for dtype, rates in layout_table.items():
        layout_rates = ", ".join(f"{layout} {rate / 1e9:.2f}" for layout, rate in rates.items())
        lines.append(f"- {dtype} square matmul at start, GFLOP/s by operand layout: {layout_rates}")
    lines.append(
        f"- Peak (fastest matmul seen in the run), GFLOP/s: bfloat16 {best['bfloat16'] / 1e9:.2f}, "
        f"float32 {best['float32'] / 1e9:.2f}"
    )
    lines += [
        "",
        "| variant | config | D | T | n | batch | s/step | samples/s | GFLOP/step | GFLOP/s "
        "| of bf16 peak | of fp32 peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rate = r.flops_per_step / r.seconds_per_step
        lines.append(
            f"| {r.variant} | {r.label} | {r.config.hidden_size} | "
            f"{r.config.num_deep_recursions} | {r.config.num_latent_steps} | {r.batch} | "
            f"{r.seconds_per_step:.2f} | {r.batch / r.seconds_per_step:.3f} | "
            f"{r.flops_per_step / 1e9:.1f} | {rate / 1e9:.2f} | "
            f"{rate / best['bfloat16']:.0%} | {rate / best['float32']:.0%} |"
        )
    lines += ["", f"Rerun: `{command}`."]
    return "\n".join(lines)


def describe_setup(args: argparse.Namespace, load: float) -> list[str]:
    """Return the bullet lines that describe where and how the figures were measured."""
    return [
        f"Measured {datetime.date.today().isoformat()} on {cpu_name()}: {os.cpu_count()} "
        f"logical CPUs, {args.threads} torch thread(s), 1-minute load average {load:.1f} at "
        f"start. torch {torch.__version__}, forward dtype {args.dtype}.",
        "Paper config: D=512, T=3, n=6, 2 layers, 16 prefix positions. Quick config: "
        f"D={args.quick_hidden}, T={args.quick_recursions}, n={args.quick_latent_steps}.",
        f"A step is act_step + act_loss + backward, timed after {args.warmup} warm-up step(s).",
        "Utilisation divides the analytic matmul FLOPs per step by the step time and by the "
        f"peak: the fastest {args.matmul_size}x{args.matmul_size} matmul rate measured at the "
        "start and after each row, over the operand layouts.",
        "On CPU, bf16 linear layers compute every product with a transposed left operand (the "
        "tn layout), because the bf16 kernels of CPUs without native bf16 depend on layout.",
    ]


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    layout_table = {
        name: matmul_rate(dtype, args.matmul_size, repeats=3)
        for name, dtype in (("bfloat16", torch.bfloat16), ("float32", torch.float32))
    }
    best = {name: max(rates.values()) for name, rates in layout_table.items()}

    results = []
    for variant, label, config, batch, iters in build_configs(args):
        seconds = time_training_step(config, batch, args.warmup, iters)
        results.append(Result(variant, label, config, batch, seconds, step_flops(config, batch)))
        print(f"{variant} {label}: {seconds:.2f} s/step, {batch / seconds:.3f} samples/s")
        update_peaks(best, args.matmul_size)

    setup = describe_setup(args, load)
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    report = format_report(results, layout_table, best, setup, command)
    print(report)
    if not args.no_docs:
        write_section(args.docs, "bench_model", report)
        print(f"Updated {args.docs}")


if __name__ == "__main__":
    main()
