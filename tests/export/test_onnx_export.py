"""The exported graph: inputs and outputs, metadata, one file, and parity with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from tests.export.tiny import NUM_SUPERVISION_STEPS, tiny_config
from trm_pipeline.export.dataset import OnnxModelDataset
from trm_pipeline.export.onnx_export import (
    OPSET_VERSION,
    SupervisionStepGraph,
    digit_tokens_of,
    float32_model_from_checkpoint,
    onnx_metadata,
)
from trm_pipeline.export.runtime import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    ModelInfo,
    OnnxTRM,
    create_session,
)
from trm_pipeline.export.verification import compare_with_torch
from trm_pipeline.sudoku import TOKEN_MAP


def torch_graph(checkpoint: dict) -> SupervisionStepGraph:
    return SupervisionStepGraph(
        float32_model_from_checkpoint(checkpoint), digit_tokens_of(TOKEN_MAP)
    )


def session_model(proto: onnx.ModelProto) -> OnnxTRM:
    return OnnxTRM(create_session(proto.SerializeToString(), device="cpu"))


def test_metadata_prefers_test_set_metrics(checkpoint, variant):
    model = float32_model_from_checkpoint(checkpoint)
    test_metrics = {"exact_accuracy": 0.75, "count": 500, "halting": "fixed"}
    props = onnx_metadata(checkpoint, model, variant, "run-1", test_metrics)
    assert float(props["test_exact_accuracy"]) == 0.75
    assert props["test_eval_count"] == "500"
    assert props["test_halting"] == "fixed"
    info = ModelInfo.from_metadata(props)
    assert "test exact accuracy 75.0% with fixed halting" in info.describe()


def test_graph_inputs_outputs_and_batch_axis(exported):
    onnx.checker.check_model(exported, full_check=True)
    inputs = {value.name: value for value in exported.graph.input}
    outputs = {value.name: value for value in exported.graph.output}
    assert tuple(inputs) == INPUT_NAMES
    assert tuple(outputs) == OUTPUT_NAMES
    assert inputs["tokens"].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert inputs["answer"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    for value in [*exported.graph.input, *exported.graph.output]:
        batch = value.type.tensor_type.shape.dim[0]
        assert batch.dim_param, f"{value.name} has a fixed batch size"
    state = [dim.dim_value for dim in inputs["answer"].type.tensor_type.shape.dim[1:]]
    assert state == [4 + 81, 32]  # [P+81, D]
    assert {op.domain: op.version for op in exported.opset_import}[""] == OPSET_VERSION


def test_metadata(exported, checkpoint, variant):
    props = {prop.key: prop.value for prop in exported.metadata_props}
    assert props["variant"] == variant
    assert props["num_deep_recursions"] == "2"
    assert props["num_latent_steps"] == "1"
    assert props["num_supervision_steps"] == str(NUM_SUPERVISION_STEPS)
    assert json.loads(props["token_map"]) == TOKEN_MAP
    assert props["mlflow_run_id"] == "run-123"
    assert float(props["test_exact_accuracy"]) == 0.125
    assert json.loads(props["model_config"]) == tiny_config(variant).to_dict()
    assert props["export_dtype"] == "float32"
    state = json.loads(props["initial_state"])
    model = float32_model_from_checkpoint(checkpoint)
    assert np.array_equal(np.float32(state["answer"]), model.initial_answer.numpy())
    assert np.array_equal(np.float32(state["latent"]), model.initial_latent.numpy())


@pytest.mark.parametrize("batch", [1, 5])
def test_dynamic_batch_matches_pytorch(exported, checkpoint, puzzles, batch):
    graph = torch_graph(checkpoint)
    model = session_model(exported)
    tokens = model.tokens_from_grids(np.resize(puzzles, (batch, 81)))
    answer, latent = model.initial_state(batch)
    out = model.step(tokens, answer, latent)
    with torch.inference_mode():
        expected = graph(
            torch.from_numpy(tokens), torch.from_numpy(answer), torch.from_numpy(latent)
        )
    assert out.logits.shape == (batch, 81, 11)
    for name, got, want in zip(OUTPUT_NAMES, vars(out).values(), expected, strict=True):
        assert got.shape == tuple(want.shape), name
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=0, err_msg=name)
        else:
            assert np.array_equal(got, want.numpy()), name
    assert out.digits.min() >= 1 and out.digits.max() <= 9


def test_parity_over_all_supervision_steps(exported, checkpoint, test_inputs):
    report = compare_with_torch(
        exported, torch_graph(checkpoint), test_inputs["inputs"], test_inputs["labels"]
    )
    assert report["num_steps"] == NUM_SUPERVISION_STEPS
    assert len(report["max_abs_logit_diff_by_step"]) == NUM_SUPERVISION_STEPS
    assert report["max_abs_logit_diff"] < 1e-3
    assert report["max_abs_halt_logit_diff"] < 1e-3
    assert len(report["free_running_max_abs_logit_diff_by_step"]) == NUM_SUPERVISION_STEPS
    assert report["free_running_max_abs_logit_diff"] < 1e-3
    assert report["identical_digits"] >= 0.999
    assert report["onnx_exact_accuracy"] == report["torch_exact_accuracy"]


def test_bfloat16_model_is_exported_in_float32(checkpoint, variant):
    model = float32_model_from_checkpoint(checkpoint)
    assert model.forward_dtype == torch.float32
    assert model.initial_answer.dtype == torch.float32
    assert checkpoint["model_config"]["forward_dtype"] == tiny_config(variant).forward_dtype


def test_dataset_writes_one_self_contained_file(tmp_path, exported):
    path = tmp_path / "train_att" / "model.onnx"
    dataset = OnnxModelDataset(filepath=str(path))
    assert not dataset.exists()
    dataset.save(exported)
    assert sorted(item.name for item in path.parent.iterdir()) == ["model.onnx"]
    assert all(
        tensor.data_location == onnx.TensorProto.DEFAULT for tensor in exported.graph.initializer
    )
    loaded = dataset.load()
    assert loaded.SerializeToString() == exported.SerializeToString()
    # onnxruntime reads it with no companion .data file
    assert OnnxTRM.load(path, device="cpu").info.num_supervision_steps == NUM_SUPERVISION_STEPS
