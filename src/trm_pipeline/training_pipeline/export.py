"""ONNX export and verification nodes added to each training pipeline.

The logic lives in ``trm_pipeline.export``; these nodes read the parameters, check the data
and log to the active MLflow run.
"""

from __future__ import annotations

from typing import Any

import onnx
from kedro.pipeline import Node

from trm_pipeline.export import tracking
from trm_pipeline.export.config import ExportConfig
from trm_pipeline.export.onnx_export import (
    SupervisionStepGraph,
    digit_tokens_of,
    export_checkpoint,
    float32_model_from_checkpoint,
)
from trm_pipeline.export.quantization import quantize_int8, sha256_of_model
from trm_pipeline.export.verification import check_tolerance, compare_with_torch, select_rows
from trm_pipeline.model.checkpoint import check_dataset_metadata

# Global (not namespaced) parameters that the nodes below read.
EXPORT_PARAMETERS: set[str] = {"params:export"}


def export_onnx(
    best_model: dict[str, Any],
    test_inputs: dict[str, Any],
    test_metrics: dict[str, Any],
    variant: str,
    export_params: dict[str, Any],
) -> onnx.ModelProto:
    """Export one supervision step of the best model (EMA weights, float32) to ONNX.

    Returns:
        The ONNX model, with the variant, recursion sizes, token map, MLflow run id, the
        exact accuracy of the test-set evaluation, model config and initial state in its
        metadata.
    """
    config = ExportConfig.from_dict(export_params)
    check_dataset_metadata(best_model["dataset_metadata"], test_inputs["metadata"])
    proto = export_checkpoint(
        best_model,
        variant,
        tracking.active_run_id(),
        opset_version=config.opset_version,
        test_metrics=test_metrics,
    )
    if config.log_model:
        tracking.log_onnx_model(proto, variant)
    return proto


def verify_onnx(
    onnx_model: onnx.ModelProto,
    best_model: dict[str, Any],
    test_inputs: dict[str, Any],
    variant: str,
    export_params: dict[str, Any],
) -> tuple[dict[str, Any], onnx.ModelProto]:
    """Make the int8 copy, then compare both files with PyTorch on seeded test puzzles.

    Both run over all supervision steps. The float32 export is held to the logit and digit
    tolerances, the int8 copy (int8 weights, activations quantized at run time) to the
    blank-cell accuracy it keeps. The int8 copy is returned, and so saved, only when both
    pass. A copy left from an earlier export then no longer matches the new ``model.onnx``,
    which the solver page checks.

    Returns:
        The verification report (also logged to MLflow, with the int8 figures under "int8")
        and the int8 model, which has the float32 model's metadata plus its sha256.

    Raises:
        OnnxVerificationError: Above ``export.max_abs_logit_diff``, below
            ``export.min_identical_digits``, or with the int8 copy's blank-cell accuracy more
            than ``export.int8_max_blank_accuracy_drop`` below PyTorch's.
    """
    config = ExportConfig.from_dict(export_params)
    int8_model = quantize_int8(onnx_model)
    rows = select_rows(len(test_inputs["inputs"]), config.verify_num_puzzles, config.verify_seed)
    graph = SupervisionStepGraph(
        float32_model_from_checkpoint(best_model),
        digit_tokens_of(best_model["dataset_metadata"]["token_map"]),
    )
    report = compare_with_torch(
        onnx_model,
        graph,
        test_inputs["inputs"][rows],
        test_inputs["labels"][rows],
        int8_proto=int8_model,
    )
    report = {
        "variant": variant,
        "file_size_bytes": onnx_model.ByteSize(),
        "onnx_sha256": sha256_of_model(onnx_model),
        **report,
    }
    report["int8"]["sha256"] = sha256_of_model(int8_model)
    tracking.log_verification(report, variant)
    report = check_tolerance(report, config.tolerance)
    if config.log_model:
        tracking.log_onnx_model(int8_model, variant, suffix="_int8")
    return report, int8_model


def export_nodes() -> list[Node]:
    """Return the export nodes of one variant, before namespacing."""
    return [
        Node(
            export_onnx,
            inputs=[
                "best_model",
                "test_inputs",
                "test_metrics",
                "params:variant",
                "params:export",
            ],
            outputs="onnx_model",
            name="export_onnx_node",
        ),
        Node(
            verify_onnx,
            inputs=["onnx_model", "best_model", "test_inputs", "params:variant", "params:export"],
            outputs=["onnx_verification", "onnx_model_int8"],
            name="verify_onnx_node",
        ),
    ]
