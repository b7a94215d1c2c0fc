"""Check an exported graph: the ONNX checker, then onnxruntime against PyTorch step by step.

The logit tolerance applies to each step run from the same y and z on both engines. The digit
tolerance applies to a free run in which each engine carries its own y and z through every
supervision step, which is how the solver uses the graph.

The int8 copy (see :mod:`.quantization`) is not expected to match PyTorch's logits; it is held
to the accuracy it keeps: its share of correctly filled blank cells in a free run may fall
short of PyTorch's by at most a stated margin.
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
        max_abs_logit_diff: Largest allowed |onnxruntime - PyTorch| over all cell logits, with
            both engines running each step from the same y and z.
        min_identical_digits: Smallest allowed share of cells with the same predicted digit,
            with each engine carrying its own y and z.
        int8_max_blank_accuracy_drop: Largest allowed fall of the int8 copy's blank-cell
            accuracy below PyTorch's (float32) on the same puzzles, as a fraction.
    """

    max_abs_logit_diff: float
    min_identical_digits: float
    int8_max_blank_accuracy_drop: float = 0.01


def select_rows(num_rows: int, count: int, seed: int) -> np.ndarray:
    """Pick ``count`` of ``num_rows`` row indices with a seeded draw, sorted (all if fewer)."""
    if count < 1:
        raise ValueError(f"export.verify_num_puzzles must be >= 1, got {count}.")
    if num_rows <= count:
        return np.arange(num_rows)
    return np.sort(np.random.default_rng(seed).choice(num_rows, size=count, replace=False))


def _torch_steps(graph: SupervisionStepGraph, tokens: np.ndarray, num_steps: int) -> list:
    """Run PyTorch for ``num_steps`` steps. Each entry also keeps the step's input y and z."""
    model = graph.model
    inputs = torch.from_numpy(tokens.astype(np.int64))
    answer, latent = model.initial_state(len(tokens), "cpu")
    steps = []
    with torch.inference_mode():
        for _ in range(num_steps):
            carry_in = (answer.numpy(), latent.numpy())
            logits, digits, halt_logit, answer, latent = graph(inputs, answer, latent)
            steps.append((logits.numpy(), digits.numpy(), halt_logit.numpy(), carry_in))
    return steps


def _onnx_steps(model: OnnxTRM, tokens: np.ndarray, num_steps: int) -> list:
    """Run onnxruntime for ``num_steps`` steps, carrying its own y and z from step to step."""
    answer, latent = model.initial_state(len(tokens))
    steps = []
    for _ in range(num_steps):
        out = model.step(tokens, answer, latent)
        answer, latent = out.answer, out.latent
        steps.append((out.logits, out.digits, out.halt_logit))
    return steps


def _onnx_steps_on_torch_carry(model: OnnxTRM, tokens: np.ndarray, torch_steps: list) -> list:
    """Run each onnxruntime step from the y and z that PyTorch fed into the same step."""
    steps = []
    for *_, (answer, latent) in torch_steps:
        out = model.step(tokens, answer, latent)
        steps.append((out.logits, out.digits, out.halt_logit))
    return steps


def _max_abs_diff(onnx_steps: list, torch_steps: list, index: int) -> list[float]:
    return [
        float(np.abs(o[index] - t[index]).max())
        for o, t in zip(onnx_steps, torch_steps, strict=True)
    ]


def _accuracies(
    digits: np.ndarray, tokens: np.ndarray, labels: np.ndarray, model: OnnxTRM
) -> dict[str, float]:
    """Exact (whole puzzle) and blank-cell accuracy of ``[N, 81]`` predicted digits 1..9."""
    predicted = model.tokens_from_grids(digits)
    correct = predicted == labels
    blank = tokens == model.info.token_map["<blank>"]
    return {
        "exact_accuracy": float(correct.all(axis=1).mean()),
        "blank_accuracy": float(correct[blank].mean()) if blank.any() else 1.0,
    }


def compare_int8_with_torch(
    int8_proto: onnx.ModelProto,
    torch_steps: list,
    tokens: np.ndarray,
    labels: np.ndarray,
) -> dict[str, Any]:
    """Run the int8 copy freely over the steps PyTorch ran and compare its predictions.

    Returns:
        ``identical_digits`` (share of cells equal to PyTorch's digit, all steps), the
        exact and blank-cell accuracy of both at the last step, ``blank_accuracy_drop``
        (PyTorch's minus the int8 copy's), the onnxruntime seconds and the file size.
    """
    onnx.checker.check_model(int8_proto, full_check=True)
    model = OnnxTRM(create_session(int8_proto.SerializeToString(), device="cpu"))
    started = time.perf_counter()
    int8_steps = _onnx_steps(model, tokens, len(torch_steps))
    seconds = time.perf_counter() - started
    identical = [float((o[1] == t[1]).mean()) for o, t in zip(int8_steps, torch_steps, strict=True)]
    int8 = _accuracies(int8_steps[-1][1], tokens, labels, model)
    float32 = _accuracies(torch_steps[-1][1], tokens, labels, model)
    return {
        "identical_digits": float(np.mean(identical)),
        "identical_digits_by_step": identical,
        "exact_accuracy": int8["exact_accuracy"],
        "blank_accuracy": int8["blank_accuracy"],
        "torch_exact_accuracy": float32["exact_accuracy"],
        "torch_blank_accuracy": float32["blank_accuracy"],
        "blank_accuracy_drop": float32["blank_accuracy"] - int8["blank_accuracy"],
        "onnx_seconds": round(seconds, 3),
        "file_size_bytes": int8_proto.ByteSize(),
    }


def compare_with_torch(
    proto: onnx.ModelProto,
    graph: SupervisionStepGraph,
    tokens: np.ndarray,
    labels: np.ndarray | None = None,
    num_steps: int | None = None,
    int8_proto: onnx.ModelProto | None = None,
) -> dict[str, Any]:
    """Run the exported graph (onnxruntime, CPU) and ``graph`` (PyTorch) over N_sup steps.

    Args:
        proto: The exported model.
        graph: The float32 PyTorch step the graph was exported from.
        tokens: ``[N, 81]`` puzzle tokens.
        labels: ``[N, 81]`` solution tokens, for the exact accuracy of both sides; optional.
        num_steps: Supervision steps; defaults to N_sup.
        int8_proto: The int8 copy of ``proto``, compared with PyTorch under ``"int8"`` (see
            :func:`compare_int8_with_torch`); it needs ``labels``.

    Returns:
        A JSON-ready report with exact accuracies and timings, plus:

        - ``max_abs_logit_diff`` and ``max_abs_halt_logit_diff``: the largest differences
          when both engines run each step from the same y and z (PyTorch's). This is the
          error of the exported graph itself.
        - ``free_running_max_abs_logit_diff``: the same while each engine carries its own y
          and z. A trained recursion can amplify rounding differences from step to step, so
          this is larger.
        - ``identical_digits``: the share of cells with the same predicted digit while each
          engine carries its own y and z (overall and per step).
    """
    if int8_proto is not None and labels is None:
        raise ValueError("int8_proto was given without labels; pass the puzzles' labels.")
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

    same_input_steps = _onnx_steps_on_torch_carry(onnx_model, tokens, torch_steps)

    # The graph error: both engines run each step from the same y and z.
    logit_diff = _max_abs_diff(same_input_steps, torch_steps, 0)
    halt_diff = _max_abs_diff(same_input_steps, torch_steps, 2)
    # The error in the solver's output: each engine carries its own y and z, so rounding
    # differences of earlier steps feed into later ones.
    free_logit_diff = _max_abs_diff(onnx_steps, torch_steps, 0)
    identical = [float((o[1] == t[1]).mean()) for o, t in zip(onnx_steps, torch_steps, strict=True)]
    report: dict[str, Any] = {
        "num_puzzles": len(tokens),
        "num_steps": num_steps,
        "checker": "passed (full_check)",
        "providers": onnx_model.providers,
        "max_abs_logit_diff": max(logit_diff),
        "max_abs_halt_logit_diff": max(halt_diff),
        "identical_digits": float(np.mean(identical)),
        "max_abs_logit_diff_by_step": logit_diff,
        "free_running_max_abs_logit_diff": max(free_logit_diff),
        "free_running_max_abs_logit_diff_by_step": free_logit_diff,
        "identical_digits_by_step": identical,
        "onnx_seconds": round(onnx_seconds, 3),
        "torch_seconds": round(torch_seconds, 3),
    }
    if labels is not None:
        for side, steps in (("onnx", onnx_steps), ("torch", torch_steps)):
            accuracies = _accuracies(steps[-1][1], tokens, labels, onnx_model)
            report[f"{side}_exact_accuracy"] = accuracies["exact_accuracy"]
    if int8_proto is not None:
        report["int8"] = compare_int8_with_torch(int8_proto, torch_steps, tokens, labels)
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
    int8 = report.get("int8")
    int8_limit = tolerance.int8_max_blank_accuracy_drop
    if int8 is not None and not int8["blank_accuracy_drop"] <= int8_limit:
        failures.append(
            f"the int8 copy's blank-cell accuracy {int8['blank_accuracy']:.2%} is "
            f"{int8['blank_accuracy_drop']:.2%} below PyTorch's {int8['torch_blank_accuracy']:.2%}"
            f", more than export.int8_max_blank_accuracy_drop {int8_limit:.2%}"
        )
    report = {
        **report,
        "tolerance": {
            "max_abs_logit_diff": tolerance.max_abs_logit_diff,
            "min_identical_digits": tolerance.min_identical_digits,
            "int8_max_blank_accuracy_drop": int8_limit,
        },
        "passed": not failures,
    }
    if failures:
        raise OnnxVerificationError(
            "The ONNX export does not match PyTorch over "
            f"{report['num_puzzles']} puzzles x {report['num_steps']} steps: "
            + "; ".join(failures)
            + ". The model.onnx file on disk is this export, so do not serve it if its check "
            "failed; model_int8.onnx was not written. Check the exporter and onnxruntime "
            "versions, or widen the tolerance in conf/*/parameters_export.yml if the "
            "difference is understood."
        )
    logger.info(
        "ONNX verified: max |logit diff| %.2e, identical digits %.4f over %d puzzles x %d steps",
        report["max_abs_logit_diff"],
        report["identical_digits"],
        report["num_puzzles"],
        report["num_steps"],
    )
    if int8 is not None:
        logger.info(
            "Int8 copy: blank-cell accuracy %.2f%% (PyTorch float32 %.2f%%), identical digits "
            "%.4f, %.2fx the float32 onnxruntime speed on this batch",
            100 * int8["blank_accuracy"],
            100 * int8["torch_blank_accuracy"],
            int8["identical_digits"],
            report["onnx_seconds"] / max(int8["onnx_seconds"], 1e-9),
        )
    return report
