"""The int8 copy: graph surgery, metadata, and the accuracy a trained model keeps."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from tests.export.test_export_nodes import perturbed
from tests.export.tiny import tiny_export
from trm_pipeline.export.dataset import OnnxModelDataset
from trm_pipeline.export.onnx_export import export_checkpoint
from trm_pipeline.export.quantization import fold_weight_transposes, quantize_int8
from trm_pipeline.export.runtime import OnnxTRM, create_session
from trm_pipeline.export.verification import OnnxVerificationError
from trm_pipeline.sudoku import generate_puzzles, grids_to_tokens, tokens_to_grids
from trm_pipeline.training_pipeline.export import verify_onnx

# The best model of `kedro run --pipelines=train_mlp --env quick` (hidden 64, 1,092 steps,
# 95.4% exact on its 500 test puzzles). Its data had 41-51 givens.
TRAINED_CHECKPOINT = Path(__file__).parents[1] / "fixtures" / "quick_mlp_best_model.pt"


def _session(proto: onnx.ModelProto) -> OnnxTRM:
    return OnnxTRM(create_session(proto.SerializeToString(), device="cpu"))


def _initializer_names(proto: onnx.ModelProto) -> set[str]:
    return {tensor.name for tensor in proto.graph.initializer}


@functools.cache
def _trained() -> tuple[dict, bytes, bytes]:
    """The trained checkpoint, its float32 export and int8 copy (made once per session)."""
    checkpoint = torch.load(TRAINED_CHECKPOINT, map_location="cpu", weights_only=True)
    float32 = export_checkpoint(checkpoint, "mlp", mlflow_run_id="fixture")
    return checkpoint, float32.SerializeToString(), quantize_int8(float32).SerializeToString()


@pytest.fixture(scope="module")
def trained() -> tuple[dict, onnx.ModelProto, onnx.ModelProto]:
    checkpoint, float32, int8 = _trained()
    return checkpoint, onnx.load_from_string(float32), onnx.load_from_string(int8)


@pytest.fixture(scope="module")
def quick_test_inputs() -> dict:
    """64 generated puzzles like the quick config's test split (41-51 givens)."""
    puzzles, solutions, _ = generate_puzzles(64, 41, 51, seed=11)
    checkpoint = _trained()[0]
    return {
        "inputs": grids_to_tokens(puzzles),
        "labels": grids_to_tokens(solutions),
        "metadata": {**checkpoint["dataset_metadata"], "split": "test"},
    }


@pytest.mark.parametrize("variant", ["att", "mlp"])
def test_folding_transposes_keeps_outputs(variant, puzzles):
    exported = tiny_export(variant)
    folded = fold_weight_transposes(exported)
    weights = _initializer_names(folded)
    assert not [
        node.name
        for node in folded.graph.node
        if node.op_type == "Transpose" and node.input[0] in weights
    ]
    assert len(folded.graph.node) < len(exported.graph.node)
    original, refolded = _session(exported), _session(folded)
    tokens = original.tokens_from_grids(puzzles)
    state = original.initial_state(len(puzzles))
    before, after = original.step(tokens, *state), refolded.step(tokens, *state)
    for name in ("logits", "halt_logit", "answer", "latent"):
        np.testing.assert_allclose(getattr(after, name), getattr(before, name), atol=1e-6)


@pytest.mark.parametrize("variant", ["att", "mlp"])
def test_int8_copy_weights_and_metadata(variant, tmp_path):
    exported = tiny_export(variant)
    int8 = quantize_int8(exported)
    onnx.checker.check_model(int8, full_check=True)
    ops = [node.op_type for node in int8.graph.node]
    weights = _initializer_names(int8)
    assert ops.count("MatMulInteger") >= 4
    # Every matrix product with a weight is int8 except the q_halt head, which stays float32
    # (a MatMul and an Add after the quantizer's rewrite of its Gemm). The other float
    # products multiply two activations (attention scores and values).
    float_products = [node for node in int8.graph.node if node.op_type == "MatMul"]
    with_weight = [node.name for node in float_products if node.input[1] in weights]
    assert len(with_weight) == 1
    assert "Gemm" in with_weight[0]
    assert "model.q_head.weight" in weights
    assert int8.ByteSize() < exported.ByteSize()

    path = OnnxModelDataset(filepath=str(tmp_path / "model.onnx"))
    path.save(exported)
    file_sha256 = hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    before = {prop.key: prop.value for prop in exported.metadata_props}
    after = {prop.key: prop.value for prop in int8.metadata_props}
    assert after == {**before, "export_dtype": "int8-dynamic", "float32_sha256": file_sha256}

    model = _session(int8)
    assert model.info.is_int8
    assert "int8 weights" in model.info.describe()
    assert not _session(exported).info.is_int8


def test_int8_keeps_trained_accuracy(trained, quick_test_inputs):
    _, float32, int8 = trained
    puzzles = quick_test_inputs["inputs"]
    labels = quick_test_inputs["labels"]
    grids = tokens_to_grids(puzzles)
    blank = grids == 0
    results = {}
    for name, proto in (("float32", float32), ("int8", int8)):
        model = _session(proto)
        answer = model.tokens_from_grids(model.run(grids, halting="fixed").final_digits)
        correct = answer == labels
        results[name] = (correct.all(axis=1).mean(), correct[blank].mean())
    (float32_exact, float32_blank), (int8_exact, int8_blank) = results["float32"], results["int8"]
    assert float32_exact >= 0.8, "the fixture is not the trained model"
    assert int8_blank >= float32_blank - 0.01
    assert int8_exact >= float32_exact - 0.05


def test_verification_passes_trained_int8(trained, quick_test_inputs):
    checkpoint, float32, int8 = trained
    report, written = verify_onnx(float32, checkpoint, quick_test_inputs, "mlp", {})
    assert written.SerializeToString() == int8.SerializeToString()
    assert report["passed"] is True
    assert report["tolerance"]["int8_max_blank_accuracy_drop"] == 0.01
    assert report["int8"]["identical_digits"] >= 0.98
    assert report["int8"]["torch_exact_accuracy"] >= 0.8


def test_verification_rejects_inaccurate_int8_copy(trained, quick_test_inputs, monkeypatch):
    checkpoint, float32, _ = trained
    damaged = quantize_int8(perturbed(float32, "token_embedding", 0.5))
    monkeypatch.setattr(
        "trm_pipeline.training_pipeline.export.quantize_int8", lambda proto: damaged
    )
    with pytest.raises(OnnxVerificationError, match="int8_max_blank_accuracy_drop") as failure:
        verify_onnx(float32, checkpoint, quick_test_inputs, "mlp", {})
    assert "logit difference" not in str(failure.value)
