"""Checkpoints and resume: SIGKILL, Ctrl-C, a non-finite loss, and 2-process gloo training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training.torchrun import torchrun_command
from trm_pipeline.training.checkpoints import TRAINING_STATE_FILE, load_checkpoint

SCRIPT = Path(__file__).with_name("run_training.py")


def start(checkpoint_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(checkpoint_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_step(process: subprocess.Popen, step: int) -> None:
    for line in process.stdout:
        if line.strip() == f"STEP {step}":
            return
    raise AssertionError(f"process ended before step {step}: {process.stderr.read()[-2000:]}")


def run_to_end(checkpoint_dir: Path, *args: str) -> None:
    process = start(checkpoint_dir, *args)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]


def final_weights(checkpoint_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint_dir / "final_weights.pt", weights_only=True)


@pytest.mark.slow
def test_sigkill_then_rerun_matches_uninterrupted(tmp_path):
    run_to_end(tmp_path / "straight")

    interrupted = tmp_path / "killed"
    process = start(interrupted)
    wait_for_step(process, 7)  # checkpoints are written at steps 2, 4 and 6
    process.kill()
    process.wait(timeout=60)
    assert load_checkpoint(interrupted / TRAINING_STATE_FILE)["step"] == 6
    run_to_end(interrupted)

    expected, actual = final_weights(tmp_path / "straight"), final_weights(interrupted)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


@pytest.mark.slow
def test_ctrl_c_saves_checkpoint(tmp_path):
    process = start(tmp_path, "--checkpoint-every", "1000", "--steps", "50")
    wait_for_step(process, 3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Run the same command again to continue" in stderr
    assert load_checkpoint(tmp_path / TRAINING_STATE_FILE)["step"] >= 3


@pytest.mark.slow
def test_two_process_gloo_matches_single_process(tmp_path):
    run_to_end(tmp_path / "single", "--exploration", "0", "--steps", "6")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        torchrun_command(str(SCRIPT), str(tmp_path / "ddp"), "--exploration", "0", "--steps", "6"),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "FORWARD DistributedDataParallel" in completed.stdout
    single, ddp = final_weights(tmp_path / "single"), final_weights(tmp_path / "ddp")
    for name in single:
        torch.testing.assert_close(ddp[name], single[name], rtol=1e-4, atol=1e-5, msg=name)
