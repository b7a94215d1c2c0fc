"""Check an exported graph: the ONNX checker, then onnxruntime against PyTorch step by step.

Both sides start from (y0, z0) and carry their own y and z through every supervision step,
so errors that grow over the recursion show up in the later steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch

from trm_pipeline.export.onnx_export import SupervisionStepGraph
from trm_pipeline.export.runtime import OnnxTRM, create_session

logger = logging.getLogger(__name__)


class OnnxVerificationError(RuntimeError):
    """onnxruntime and PyTorch disagree by more than the stated tolerance."""


@dataclass(frozen=True)
class Tolerance:
    """Limits of the verification.

    Attributes:
        max_abs_logit_diff: Largest allowed |onnxruntime - PyTorch| over all cell logits.
        min_identical_digits: Smallest allowed share of cells with the same predicted digit.
    """

    max_abs_logit_diff: float
    min_identical_digits: float


def select_rows(num_rows: int, count: int, seed: int) -> np.ndarray:
    """Pick ``count`` of ``num_rows`` row indices with a seeded draw, sorted (all if fewer)."""
    if count < 1:
        raise ValueError(f"export.verify_num_puzzles must be >= 1, got {count}.")
    if num_rows <= count:
        return np.arange(num_rows)
    return np.sort(np.random.default_rng(seed).choice(num_rows, size=count, replace=False))


def _torch_steps(graph: SupervisionStepGraph, tokens: np.ndarray, num_steps: int) -> list:
    model = graph.model
    inputs = torch.from_numpy(tokens.astype(np.int64))
    answer, latent = model.initial_state(len(tokens), "cpu")
    steps = []
    with torch.inference_mode():
        for _ in range(num_steps):
            logits, digits, halt_logit, answer, latent = graph(inputs, answer, latent)
            steps.append((logits.numpy(), digits.numpy(), halt_logit.numpy()))
    return steps


def _onnx_steps(model: OnnxTRM, tokens: np.ndarray, num_steps: int) -> list:
    answer, latent = model.initial_state(len(tokens))
    steps = []
    for _ in range(num_steps):
        out = model.step(tokens, answer, latent)
        answer, latent = out.answer, out.latent
        steps.append((out.logits, out.digits, out.halt_logit))
    return steps


def compare_with_torch(
    proto: onnx.ModelProto,
    graph: SupervisionStepGraph,
    tokens: np.ndarray,
    labels: np.ndarray | None = None,
    num_steps: int | None = None,
) -> dict[str, Any]:
    """Run the exported graph (onnxruntime, CPU) and ``graph`` (PyTorch) over N_sup steps.

    Args:
        proto: The exported model.
        graph: The float32 PyTorch step the graph was exported from.
        tokens: ``[N, 81]`` puzzle tokens.
        labels: ``[N, 81]`` solution tokens, for the exact accuracy of both sides; optional.
        num_steps: Supervision steps; defaults to N_sup.

    Returns:
        A JSON-ready report: maximum absolute logit and halt-logit differences, the share of
        identical predicted digits (overall and per step), exact accuracies and timings.
    """
    onnx.checker.check_model(proto, full_check=True)
    onnx_model = OnnxTRM(create_session(proto.SerializeToString(), device="cpu"))
    num_steps = num_steps or onnx_model.info.num_supervision_steps
    # PyTorch first: onnxruntime's worker threads spin for a while after each run.
    started = time.perf_counter()
    torch_steps = _torch_steps(graph, tokens, num_steps)
    torch_seconds = time.perf_counter() - started
    started = time.perf_counter()
    onnx_steps = _onnx_steps(onnx_model, tokens, num_steps)
    onnx_seconds = time.perf_counter() - started

    pairs = list(zip(onnx_steps, torch_steps, strict=True))  # (logits, digits, halt_logit)
    logit_diff = [float(np.abs(o[0] - t[0]).max()) for o, t in pairs]
    halt_diff = [float(np.abs(o[2] - t[2]).max()) for o, t in pairs]
    identical = [float((o[1] == t[1]).mean()) for o, t in pairs]
    report: dict[str, Any] = {
        "num_puzzles": len(tokens),
        "num_steps": num_steps,
        "checker": "passed (full_check)",
        "providers": onnx_model.providers,
        "max_abs_logit_diff": max(logit_diff),
        "max_abs_halt_logit_diff": max(halt_diff),
        "identical_digits": float(np.mean(identical)),
        "max_abs_logit_diff_by_step": logit_diff,
        "identical_digits_by_step": identical,
        "onnx_seconds": round(onnx_seconds, 3),
        "torch_seconds": round(torch_seconds, 3),
    }
    if labels is not None:
        digit_tokens = graph.digit_tokens.numpy()
        for side, steps in (("onnx", onnx_steps), ("torch", torch_steps)):
            predicted = digit_tokens[steps[-1][1] - 1]  # digits 1..9 -> tokens
            report[f"{side}_exact_accuracy"] = float((predicted == labels).all(axis=1).mean())
    return report


def check_tolerance(report: dict[str, Any], tolerance: Tolerance) -> dict[str, Any]:
    """Add the tolerance and the verdict to ``report``; raise if it is exceeded.

    Raises:
        OnnxVerificationError: Naming the measured figures and the limits.
    """
    failures = []
    if not report["max_abs_logit_diff"] <= tolerance.max_abs_logit_diff:
        failures.append(
            f"max |logit difference| {report['max_abs_logit_diff']:.3g} > "
            f"export.max_abs_logit_diff {tolerance.max_abs_logit_diff:.3g}"
        )
    if not report["identical_digits"] >= tolerance.min_identical_digits:
        failures.append(
            f"identical digits {report['identical_digits']:.4%} < "
            f"export.min_identical_digits {tolerance.min_identical_digits:.4%}"
        )
    report = {
        **report,
        "tolerance": {
            "max_abs_logit_diff": tolerance.max_abs_logit_diff,
            "min_identical_digits": tolerance.min_identical_digits,
        },
        "passed": not failures,
    }
    if failures:
        raise OnnxVerificationError(
            "The ONNX export does not match PyTorch over "
            f"{report['num_puzzles']} puzzles x {report['num_steps']} steps: "
            + "; ".join(failures)
            + ". The model.onnx file on disk is this export: do not serve it. Check the "
            "exporter and onnxruntime versions, or widen the tolerance in "
            "conf/*/parameters_export.yml if the difference is understood."
        )
    logger.info(
        "ONNX verified: max |logit diff| %.2e, identical digits %.4f over %d puzzles x %d steps",
        report["max_abs_logit_diff"],
        report["identical_digits"],
        report["num_puzzles"],
        report["num_steps"],
    )
    return report
