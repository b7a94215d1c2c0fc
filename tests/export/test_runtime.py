"""The onnxruntime side: loading errors, provider choice and the halting loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.export.tiny import NUM_SUPERVISION_STEPS, write_tiny_export
from trm_pipeline.export import runtime
from trm_pipeline.export.runtime import (
    FORMAT,
    PIPELINE_HINT,
    ModelInfo,
    ModelLoadError,
    OnnxTRM,
    StepArrays,
    create_session,
)
from trm_pipeline.sudoku import TOKEN_MAP

HIDDEN, LENGTH = 4, 85


class FakeMeta:
    def __init__(self, metadata):
        self.custom_metadata_map = metadata


class FakeSession:
    """Answers ``run`` with digits = step number and a halt logit schedule per puzzle row."""

    def __init__(self, halt_schedule: np.ndarray, metadata: dict[str, str]):
        self.halt_schedule = halt_schedule  # [steps, B] halt logits by (step, original row)
        self.metadata = metadata
        self.fed_batches: list[int] = []

    def get_modelmeta(self):
        return FakeMeta(self.metadata)

    def get_providers(self):
        return ["CPUExecutionProvider"]

    def run(self, names, feeds):
        tokens, answer = feeds["tokens"], feeds["answer"]
        step = int(answer[0, 0, 0])  # the fake carries the step count in y
        rows = feeds["latent"][:, 0, 0].astype(int)  # and the original row index in z
        batch = len(tokens)
        self.fed_batches.append(batch)
        digits = np.full((batch, 81), step + 1, dtype=np.int64)
        halt = self.halt_schedule[step, rows].astype(np.float32)
        logits = np.zeros((batch, 81, 11), np.float32)
        return [logits, digits, halt, answer + 1, feeds["latent"]]


def fake_metadata(num_steps: int) -> dict[str, str]:
    config = {"puzzle_emb_len": LENGTH - 81, "seq_len": 81, "hidden_size": HIDDEN}
    return {
        "format": FORMAT,
        "variant": "att",
        "num_deep_recursions": "2",
        "num_latent_steps": "1",
        "num_supervision_steps": str(num_steps),
        "token_map": json.dumps(TOKEN_MAP),
        "model_config": json.dumps(config),
        "initial_state": json.dumps({"answer": [0.0] * HIDDEN, "latent": [0.0] * HIDDEN}),
    }


def fake_model(halt_schedule: np.ndarray) -> tuple[OnnxTRM, FakeSession]:
    session = FakeSession(halt_schedule, fake_metadata(halt_schedule.shape[0]))
    model = OnnxTRM(session)
    # Put each row's index into z so the fake can look up its schedule after rows halt.
    original = model.initial_state

    def indexed_state(size):
        answer, latent = original(size)
        latent[:, 0, 0] = np.arange(size)
        return answer, latent

    model.initial_state = indexed_state
    return model, session


def test_learned_halting_stops_each_puzzle_at_its_first_positive_logit():
    # rows halt after steps 1, 3 and never (limit 4)
    schedule = np.array([[1.0, -1, -1], [-1, -1, -1], [-1, 2.0, -1], [-1, -1, -1]])
    model, session = fake_model(schedule)
    recursion = model.run(np.zeros((3, 81), np.uint8), halting="learned")
    assert recursion.steps.tolist() == [1, 3, 4]
    assert session.fed_batches == [3, 2, 2, 1]  # halted puzzles are not run again
    assert recursion.digits.shape == (4, 3, 81)
    # each puzzle keeps the answer of its halting step
    assert recursion.final_digits[:, 0].tolist() == [1, 3, 4]
    assert recursion.digits[:, 0, 0].tolist() == [1, 1, 1, 1]
    assert recursion.halt_logits[-1].tolist() == [1.0, 2.0, -1.0]
    assert np.all((recursion.halt_probabilities > 0) & (recursion.halt_probabilities < 1))


def test_fixed_halting_runs_every_step():
    schedule = np.ones((4, 2))
    model, session = fake_model(schedule)
    recursion = model.run(np.zeros((2, 81), np.uint8), halting="fixed")
    assert recursion.steps.tolist() == [4, 4]
    assert session.fed_batches == [2, 2, 2, 2]
    assert model.run(np.zeros((2, 81), np.uint8), "fixed", max_steps=2).steps.tolist() == [2, 2]


def test_unknown_halting_mode_is_rejected():
    model, _ = fake_model(np.ones((2, 1)))
    with pytest.raises(ValueError, match="halting must be one of"):
        model.run(np.zeros((1, 81), np.uint8), halting="sometimes")


def test_negative_step_limit_is_rejected():
    model, _ = fake_model(np.ones((2, 1)))
    with pytest.raises(ValueError, match="max_steps is -1"):
        model.run(np.zeros((1, 81), np.uint8), max_steps=-1)


def test_tokens_follow_the_token_map():
    model, _ = fake_model(np.ones((1, 1)))
    grid = np.arange(81) % 10
    assert np.array_equal(model.tokens_from_grids(grid), grid + 1)  # blank 0 -> 1, d -> d + 1
    out = model.step(model.tokens_from_grids(grid[None]), *model.initial_state(1))
    assert isinstance(out, StepArrays)


def test_metadata_of_another_file_is_rejected():
    with pytest.raises(ModelLoadError, match="not exported by this project"):
        ModelInfo.from_metadata({"format": "something else"})
    incomplete = fake_metadata(2)
    del incomplete["initial_state"]
    with pytest.raises(ModelLoadError, match="incomplete"):
        ModelInfo.from_metadata(incomplete)


def test_missing_and_unreadable_files_name_the_pipeline(tmp_path):
    with pytest.raises(ModelLoadError, match="No exported model") as missing:
        OnnxTRM.load(tmp_path / "model.onnx")
    assert PIPELINE_HINT in str(missing.value)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_text("not a model")
    with pytest.raises(ModelLoadError, match="Could not read") as unreadable:
        OnnxTRM.load(garbage)
    assert PIPELINE_HINT in str(unreadable.value)


def test_cpu_session_is_silent(tmp_path, capfd):
    path = write_tiny_export(tmp_path / "model.onnx")
    session = create_session(path, device="auto")
    assert session.get_providers()[-1] == "CPUExecutionProvider"
    model = OnnxTRM(session)
    recursion = model.run(np.zeros((1, 81), np.uint8), halting="fixed")
    assert recursion.steps.tolist() == [NUM_SUPERVISION_STEPS]
    captured = capfd.readouterr()
    # Only onnxruntime's own error lines count: a project log line may reach stdout when an
    # earlier test left Kedro's console logging configured.
    assert captured.err == ""
    assert "[E:onnxruntime" not in captured.out
    assert "error" not in captured.out.lower()


def test_failed_cuda_attempt_is_silent(tmp_path, capfd, monkeypatch):
    """With onnxruntime-gpu but no CUDA libraries, the CUDA try prints nothing."""
    path = write_tiny_export(tmp_path / "model.onnx")
    monkeypatch.setattr(runtime, "cuda_driver_present", lambda: True)
    session = create_session(path, device="auto")
    assert session.get_providers()[-1] == "CPUExecutionProvider"
    captured = capfd.readouterr()
    # Only onnxruntime's own error lines count: a project log line may reach stdout when an
    # earlier test left Kedro's console logging configured.
    assert captured.err == ""
    assert "[E:onnxruntime" not in captured.out
    assert "error" not in captured.out.lower()


@pytest.mark.skipif(runtime.cuda_driver_present(), reason="this machine has an NVIDIA driver")
def test_cuda_request_without_cuda_fails_clearly(tmp_path):
    path = write_tiny_export(tmp_path / "model.onnx")
    with pytest.raises(RuntimeError, match="CUDA provider did not initialize"):
        create_session(path, device="cuda")


def test_unknown_device_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="device must be one of"):
        create_session(tmp_path / "model.onnx", device="tpu")


def test_onnxruntime_telemetry_is_off_before_import():
    """onnxruntime 1.31 stores usage events for upload unless the variable precedes import."""
    code = (
        "import sys, trm_pipeline.export.runtime as r, os; "
        "print(os.environ['ORT_DISABLE_TELEMETRY'], 'onnxruntime' in sys.modules)"
    )
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.split() == ["1", "True"]
