"""Export one TRM supervision step to ONNX with the torch dynamo exporter.

The graph computes exactly ``TinyRecursiveModel.forward`` (one supervision step: T cycles of
n latent updates and one answer update, unrolled) plus the digit read-out; the caller loops
over supervision steps and carries y and z (see :mod:`.runtime` for the inputs and outputs).

NOTE: T and n are baked into the graph by the unroll; a different recursion depth needs a new
export. The graph grows linearly with T * (n + 1) * num_layers blocks, and so does the export
time (minutes at the paper size on a small CPU).

The export runs in float32 whatever ``forward_dtype`` the model was trained with: the master
weights are float32 anyway, and bfloat16 matrix products are many times slower than float32
on CPUs without native bfloat16 (AVX2), where onnxruntime usually serves the model. The
initial state y0/z0 of a bfloat16 model is exactly representable in float32.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import onnx
import torch
from onnx_ir.passes.common import DeduplicateInitializersPass
from torch import Tensor, nn

from trm_pipeline.export.runtime import FORMAT, INITIAL_STATE_KEY, INPUT_NAMES, OUTPUT_NAMES
from trm_pipeline.model.checkpoint import load_model_state
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.network import TinyRecursiveModel

logger = logging.getLogger(__name__)

OPSET_VERSION = 20
EXPORT_DTYPE = "float32"
# Batch size of the example inputs; 1 would let the exporter specialize the batch axis.
EXAMPLE_BATCH = 2
MAX_BATCH = 65536
# Loggers of the exporter's passes: INFO lines for every folded constant and, at WARNING, a
# line for each torchvision operator it skips because torchvision is not installed.
_NOISY_LOGGERS = {
    "onnxscript": logging.WARNING,
    "onnx_ir": logging.WARNING,
    "torch.onnx._internal.exporter._registration": logging.ERROR,
}


class SupervisionStepGraph(nn.Module):
    """One supervision step with the digit read-out: the function the ONNX graph computes.

    Args:
        model: The TRM, float32, in eval mode.
        digit_tokens: The tokens of digits 1..9, in that order.
    """

    def __init__(self, model: TinyRecursiveModel, digit_tokens: list[int]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("digit_tokens", torch.tensor(digit_tokens, dtype=torch.long))

    def forward(
        self, tokens: Tensor, answer: Tensor, latent: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Run one step.

        Args:
            tokens: ``[B, 81]`` int64 cell tokens.
            answer: y, ``[B, P+81, D]`` float32.
            latent: z, ``[B, P+81, D]`` float32.

        Returns:
            logits ``[B, 81, V]``, digits ``[B, 81]`` (1..9, the best digit token; the pad and
            blank tokens are never chosen), halt_logit ``[B]``, new y and new z.
        """
        out = self.model(tokens, answer, latent)
        digits = out.logits.index_select(-1, self.digit_tokens).argmax(-1) + 1  # [B, 81]
        return out.logits, digits, out.halt_logit, out.answer, out.latent


def digit_tokens_of(token_map: Mapping[str, int]) -> list[int]:
    """Return the tokens of digits 1..9 from a dataset token map."""
    try:
        return [int(token_map[str(digit)]) for digit in range(1, 10)]
    except KeyError as error:
        raise ValueError(
            f"The token map has no token for digit {error.args[0]}; expected keys '1'..'9' "
            "as written by the data_processing pipeline."
        ) from error


def float32_model_from_checkpoint(checkpoint: Mapping[str, Any]) -> TinyRecursiveModel:
    """Rebuild the checkpoint's model (its EMA weights) computing in float32, in eval mode."""
    for key in ("model_state", "model_config"):
        if key not in checkpoint:
            raise ValueError(
                f"The checkpoint has no {key!r}; pass the best_model checkpoint written by the "
                "training pipeline."
            )
    config = TRMConfig.from_dict({**checkpoint["model_config"], "forward_dtype": EXPORT_DTYPE})
    model = TinyRecursiveModel(config)
    # load_state_dict copies bfloat16 buffers (y0, z0) into the float32 ones exactly.
    load_model_state(model, checkpoint["model_state"])
    return model.eval()


def onnx_metadata(
    checkpoint: Mapping[str, Any],
    model: TinyRecursiveModel,
    variant: str,
    mlflow_run_id: str,
    test_metrics: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Metadata stored in the ONNX file's ``metadata_props`` (all values are strings).

    Keys: format, variant, num_deep_recursions (T), num_latent_steps (n),
    num_supervision_steps (N_sup), token_map (JSON), mlflow_run_id, test_exact_accuracy,
    test_eval_count and test_halting (from ``test_metrics``, the test-set evaluation, or else
    from the checkpoint's last periodic evaluation), checkpoint_step, model_config (JSON,
    as trained), export_dtype and initial_state (JSON y0 and z0, see :mod:`.runtime`). The
    opset is in the model itself (``opset_import``).
    """
    config = model.config
    metrics = test_metrics or checkpoint.get("eval_metrics") or {}
    accuracy = metrics.get("exact_accuracy")
    initial_state = {
        "answer": model.initial_answer.float().tolist(),
        "latent": model.initial_latent.float().tolist(),
    }
    return {
        "format": FORMAT,
        "variant": variant,
        "num_deep_recursions": str(config.num_deep_recursions),
        "num_latent_steps": str(config.num_latent_steps),
        "num_supervision_steps": str(config.num_supervision_steps),
        "token_map": json.dumps(checkpoint["dataset_metadata"]["token_map"], sort_keys=True),
        "mlflow_run_id": mlflow_run_id,
        "test_exact_accuracy": "" if accuracy is None else repr(float(accuracy)),
        "test_eval_count": str(int(metrics.get("count", 0))),
        "test_halting": str(metrics.get("halting", "")),
        "checkpoint_step": str(checkpoint.get("step", "")),
        "model_config": json.dumps(checkpoint["model_config"], sort_keys=True),
        "export_dtype": EXPORT_DTYPE,
        INITIAL_STATE_KEY: json.dumps(initial_state),
    }


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Raise the exporter's loggers to the levels above and drop its internal warnings."""
    loggers = {logging.getLogger(name): level for name, level in _NOISY_LOGGERS.items()}
    previous = {log: log.level for log in loggers}
    for log, level in loggers.items():
        log.setLevel(max(level, log.getEffectiveLevel()))
    try:
        with warnings.catch_warnings():
            # Deprecations inside torch.export (pytree specs) and a note on axis renaming.
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name.*")
            yield
    finally:
        for log, level in previous.items():
            log.setLevel(level)


def _example_inputs(model: TinyRecursiveModel) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    shape = (EXAMPLE_BATCH, model.config.seq_len)
    tokens = torch.randint(1, model.config.vocab_size, shape, generator=generator)  # [B, 81]
    answer, latent = model.initial_state(EXAMPLE_BATCH, "cpu")
    return tokens, answer, latent


def export_step_graph(
    model: TinyRecursiveModel,
    digit_tokens: list[int],
    metadata: Mapping[str, str],
    opset_version: int = OPSET_VERSION,
) -> onnx.ModelProto:
    """Export one supervision step of a float32 model to an ONNX model in memory.

    Args:
        model: The TRM, float32 forward dtype (see :func:`float32_model_from_checkpoint`).
        digit_tokens: Tokens of digits 1..9.
        metadata: Strings for ``metadata_props`` (see :func:`onnx_metadata`).
        opset_version: ONNX opset of the graph.

    Returns:
        The model proto with a dynamic batch axis on every input and output.
    """
    if model.forward_dtype != torch.float32:
        raise ValueError(
            f"Export a float32 model, got forward dtype {model.forward_dtype}; build it with "
            "float32_model_from_checkpoint()."
        )
    graph = SupervisionStepGraph(model.cpu().eval(), digit_tokens).eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            graph,
            _example_inputs(model),
            dynamo=True,
            opset_version=opset_version,
            external_data=False,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes={name: {0: batch} for name in INPUT_NAMES},
            verbose=False,
        )
    # The optimizer folds a transposed copy of some weights for every unrolled use; keep one.
    DeduplicateInitializersPass(size_limit=2**31)(program.model)
    proto = program.model_proto
    proto.doc_string = (
        "One TRM supervision step (T cycles of n latent updates and one answer update, "
        "unrolled), float32. Loop it N_sup times, feeding new_answer/new_latent back; start "
        "from the initial_state metadata vectors broadcast to [batch, P+81, D]."
    )
    onnx.helper.set_model_props(proto, dict(metadata))
    return proto


def export_checkpoint(
    checkpoint: Mapping[str, Any],
    variant: str,
    mlflow_run_id: str = "",
    opset_version: int = OPSET_VERSION,
    test_metrics: Mapping[str, Any] | None = None,
) -> onnx.ModelProto:
    """Export a best_model checkpoint (EMA weights) to an in-memory ONNX model.

    ``test_metrics`` (``exact_accuracy`` and ``count`` of a test-set evaluation) go into the
    metadata; without them the checkpoint's last periodic evaluation is used.
    """
    model = float32_model_from_checkpoint(checkpoint)
    digit_tokens = digit_tokens_of(checkpoint["dataset_metadata"]["token_map"])
    metadata = onnx_metadata(checkpoint, model, variant, mlflow_run_id, test_metrics)
    logger.info(
        "Exporting TRM-%s to ONNX (opset %d, float32, %d blocks unrolled)",
        variant,
        opset_version,
        model.config.num_deep_recursions
        * (model.config.num_latent_steps + 1)
        * model.config.num_layers,
    )
    return export_step_graph(model, digit_tokens, metadata, opset_version)
