"""Int8 copy of an exported step graph: weights in int8, activations quantized at run time.

onnxruntime's dynamic quantization replaces every matrix product with a constant weight
(``MatMul`` with an initializer as its second input) by ``DynamicQuantizeLinear`` on the
activation, an int8 x int8 ``MatMulInteger`` and a rescale to float32. The weights are
stored once in int8 with one scale per tensor, so the file is about a third of the float32
one. Everything else (norms, SwiGLU, RoPE, the residual stream y and z, the q_halt head) stays
float32. The result uses standard ONNX operators only; onnxruntime fuses them into its int8
kernels when the session starts.

On a CPU without int8 dot-product units (AVX2 only) a paper-size supervision step runs 1.4
to 1.9 times faster than in float32. The accuracy cost is measured by the export's
verification against PyTorch, not assumed.

NOTE: one scale per weight tensor kept the accuracy of the hidden-64 quick models; no trained
paper-size model has been quantized yet, so its cost there is known only from the export's
check on the verification puzzles.

The exporter writes some weights as an initializer followed by a ``Transpose`` node, which
dynamic quantization does not see through; :func:`fold_weight_transposes` stores those weights
already transposed first.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from trm_pipeline.export.runtime import INT8_EXPORT_DTYPE, SOURCE_SHA256_KEY

logger = logging.getLogger(__name__)


def sha256_of_model(proto: onnx.ModelProto) -> str:
    """Hex sha256 of the serialized model, which equals the sha256 of its ``.onnx`` file."""
    return hashlib.sha256(proto.SerializeToString()).hexdigest()


def fold_weight_transposes(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Return a copy where every ``Transpose`` of an initializer is replaced by the result.

    Unused initializers are dropped, and so is the stored shape information (``value_info``),
    which onnxruntime's quantizer would otherwise check against its own inference.
    """
    folded = onnx.ModelProto()
    folded.CopyFrom(proto)
    graph = folded.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    kept_nodes = []
    for node in graph.node:
        if node.op_type != "Transpose" or node.input[0] not in initializers:
            kept_nodes.append(node)
            continue
        weight = numpy_helper.to_array(initializers[node.input[0]])
        perm = next((list(attr.ints) for attr in node.attribute if attr.name == "perm"), None)
        transposed = np.ascontiguousarray(weight.transpose(perm))  # perm None reverses axes
        graph.initializer.append(numpy_helper.from_array(transposed, node.output[0]))
    del graph.node[:]
    graph.node.extend(kept_nodes)
    used = {name for node in graph.node for name in node.input}
    used |= {output.name for output in graph.output}
    live = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.initializer[:]
    graph.initializer.extend(live)
    del graph.value_info[:]
    return folded


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Drop the quantizer's advice to run its pre-processing script (root-logger warning)."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(max(logging.ERROR, previous))
    try:
        yield
    finally:
        root.setLevel(previous)


def quantize_int8(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Return the int8 copy of an exported step graph, with the metadata kept and marked.

    The metadata gains ``export_dtype: int8-dynamic`` and ``float32_sha256`` (the source
    file's sha256, so a reader can tell whether the copy belongs to a given ``model.onnx``).
    Only ``MatMul`` nodes are quantized; the q_halt head (a ``Gemm``) stays float32, since
    its sign decides when a puzzle halts.
    """
    # Imported here: the quantizer pulls in sympy and more, which a page serving an
    # existing model does not need.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source_sha256 = sha256_of_model(proto)
    folded = fold_weight_transposes(proto)
    # The exporter writes the q_halt head (one position per puzzle) as the graph's only Gemm.
    # The quantizer first rewrites every Gemm as a MatMul named "<gemm>_MatMul" and would
    # then quantize it, so both names are excluded.
    gemms = [node.name for node in folded.graph.node if node.op_type == "Gemm"]
    float_heads = gemms + [f"{name}_MatMul" for name in gemms]
    with tempfile.TemporaryDirectory(prefix="trm_int8_") as folder, _quiet_quantizer():
        output = Path(folder) / "model_int8.onnx"
        quantize_dynamic(
            folded,
            output,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=float_heads,
            per_channel=False,
            weight_type=QuantType.QInt8,
        )
        quantized = onnx.load_model(output, load_external_data=False)
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    metadata.update({"export_dtype": INT8_EXPORT_DTYPE, SOURCE_SHA256_KEY: source_sha256})
    del quantized.metadata_props[:]
    onnx.helper.set_model_props(quantized, metadata)
    quantized.doc_string = (
        proto.doc_string + " Int8 copy: MatMul weights int8 (one scale per tensor), "
        "activations quantized at run time, everything else float32."
    )
    num_int8 = sum(node.op_type == "MatMulInteger" for node in quantized.graph.node)
    logger.info(
        "Quantized %d matrix products to int8: %.1f MB -> %.1f MB",
        num_int8,
        proto.ByteSize() / 1e6,
        quantized.ByteSize() / 1e6,
    )
    return quantized
