"""Tiny random-weight TRM checkpoints and their ONNX exports, shared by the export and app tests.

Each export takes tens of seconds on a small CPU, so it is made once per variant and test
session (``functools.cache``) and copied by callers that change it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import onnx
import torch

from trm_pipeline.export.onnx_export import export_checkpoint
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.sudoku import TOKEN_MAP
from trm_pipeline.training.checkpoints import model_checkpoint

VARIANTS = ("att", "mlp")
NUM_SUPERVISION_STEPS = 3
DATASET_METADATA = {"token_map": TOKEN_MAP, "vocab_size": 11, "seq_len": 81}


def tiny_config(variant: str) -> TRMConfig:
    """Hidden 32, one layer, T=2, n=1: four blocks unrolled, the smallest real recursion.

    The attention model trains in bfloat16 (the export casts it to float32), the MLP model in
    float32, so both paths are covered.
    """
    return TRMConfig(
        hidden_size=32,
        num_heads=2,
        num_layers=1,
        num_deep_recursions=2,
        num_latent_steps=1,
        num_supervision_steps=NUM_SUPERVISION_STEPS,
        puzzle_emb_len=4,
        pos_encodings="rope" if variant == "att" else "none",
        mlp_t=variant == "mlp",
        forward_dtype="bfloat16" if variant == "att" else "float32",
    )


@functools.cache
def tiny_checkpoint(variant: str) -> dict:
    """A best_model-style checkpoint with seeded random weights."""
    torch.manual_seed(0 if variant == "att" else 1)
    config = tiny_config(variant)
    model = TinyRecursiveModel(config)
    with torch.no_grad():  # random heads, so digits and halting differ between cells
        model.lm_head.weight.normal_(0.0, 1.0)
        model.q_head.weight.normal_(0.0, 0.5)
        model.q_head.bias.zero_()
    return model_checkpoint(
        model.state_dict(),
        config,
        DATASET_METADATA,
        step=12,
        eval_metrics={"exact_accuracy": 0.125, "count": 8.0},
    )


@functools.cache
def _tiny_export_bytes(variant: str) -> bytes:
    proto = export_checkpoint(tiny_checkpoint(variant), variant, mlflow_run_id="run-123")
    return proto.SerializeToString()


def tiny_export(variant: str) -> onnx.ModelProto:
    """A fresh copy of the variant's exported model (callers may change it)."""
    return onnx.load_from_string(_tiny_export_bytes(variant))


def write_tiny_export(path: Path, variant: str = "att") -> Path:
    """Write the variant's export to ``path`` (one file) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_tiny_export_bytes(variant))
    return path
