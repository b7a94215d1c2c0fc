"""The test-set protocol: which checkpoint, which puzzles, which device, dtype and batch size."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trm_pipeline.evaluation.config import EvaluationConfig
from trm_pipeline.evaluation.core import EvaluationResult, evaluate_model
from trm_pipeline.model.device import resolve_device, resolve_forward_dtype
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.training.checkpoints import build_model_from_checkpoint

logger = logging.getLogger(__name__)


@dataclass
class EvaluationRun:
    """An evaluation of the test split together with what it ran on.

    Attributes:
        result: Per-puzzle outcomes, in the order of ``rows``.
        rows: Indices of the evaluated puzzles in the test split, ascending.
        protocol: The settings that were applied (device, dtype, batch size, step budget).
        seconds: Wall time of the evaluation itself.
    """

    result: EvaluationResult
    rows: np.ndarray
    protocol: dict[str, Any]
    seconds: float


def select_rows(num_rows: int, max_puzzles: int | None, seed: int) -> np.ndarray:
    """Return every row index, or a seeded random subset of ``max_puzzles`` of them, sorted."""
    if max_puzzles is None or max_puzzles >= num_rows:
        return np.arange(num_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_rows, size=max_puzzles, replace=False))


def choose_forward_dtype(requested: str, checkpoint_dtype: str, device: torch.device) -> str:
    """Resolve ``forward_dtype: auto`` to the checkpoint's dtype, then check the device.

    ``resolve_forward_dtype`` replaces bfloat16 with float32 on devices without native
    bfloat16 support, such as CPUs without AVX-512 or AMX.
    """
    dtype = checkpoint_dtype if requested == "auto" else requested
    return resolve_forward_dtype(dtype, device)


def load_model(
    checkpoint: dict[str, Any],
    dataset_metadata: dict[str, Any] | None,
    device: torch.device,
    forward_dtype: str = "auto",
) -> TinyRecursiveModel:
    """Rebuild the model of a checkpoint on ``device`` in the chosen activation dtype.

    Raises:
        ValueError: The checkpoint was trained on data with another vocab, length or token map.
    """
    model_config = dict(checkpoint["model_config"])
    model_config["forward_dtype"] = choose_forward_dtype(
        forward_dtype, model_config.get("forward_dtype", "float32"), device
    )
    adjusted = {**checkpoint, "model_config": model_config}
    return build_model_from_checkpoint(adjusted, device=device, dataset_metadata=dataset_metadata)


def fingerprint(inputs: np.ndarray, labels: np.ndarray) -> str:
    """Return a SHA-256 of the puzzles and solutions, to tell whether two reports share them."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(inputs).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def evaluate_test_set(
    checkpoint: dict[str, Any], test_inputs: dict[str, Any], config: EvaluationConfig
) -> EvaluationRun:
    """Evaluate ``checkpoint`` on the test split (or its seeded subset) as ``config`` sets.

    Args:
        checkpoint: A model checkpoint (EMA weights, model config, dataset metadata).
        test_inputs: The test split: ``inputs`` and ``labels`` [N, 81] tokens and
            ``metadata``.
        config: The evaluation settings.

    Returns:
        The outcomes, the evaluated rows and the protocol that was applied.
    """
    device = resolve_device(config.device)
    model = load_model(checkpoint, test_inputs.get("metadata"), device, config.forward_dtype)
    rows = select_rows(len(test_inputs["inputs"]), config.max_puzzles, config.seed)
    inputs, labels = test_inputs["inputs"][rows], test_inputs["labels"][rows]
    logger.info(
        "Evaluating %d of %d test puzzles on %s (%s halting, %s steps, %s)",
        len(rows),
        len(test_inputs["inputs"]),
        device,
        config.halting,
        config.max_steps or model.config.num_supervision_steps,
        model.config.forward_dtype,
    )
    started = time.perf_counter()
    result = evaluate_model(
        model,
        inputs,
        labels,
        batch_size=config.batch_size,
        halting=config.halting,
        max_steps=config.max_steps,
        device=device,
        progress=config.progress,
    )
    seconds = time.perf_counter() - started
    protocol = {
        "halting": config.halting,
        "max_steps": config.max_steps or model.config.num_supervision_steps,
        "num_supervision_steps": model.config.num_supervision_steps,
        "device": str(device),
        "forward_dtype": model.config.forward_dtype,
        "batch_size": result.batch_size,
        "max_puzzles": config.max_puzzles,
        "seed": config.seed,
        "test_set_size": len(test_inputs["inputs"]),
        "test_set_sha256": fingerprint(inputs, labels),
    }
    return EvaluationRun(result=result, rows=rows, protocol=protocol, seconds=seconds)
