"""The solve command line: a good puzzle through a subprocess, and each kind of bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from trm_pipeline import solve

PUZZLE = "..89....5.....8..69...573.81.........57....6.68...3..1.96.4.7..731.........5....."


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trm_pipeline.solve", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_solves_good_puzzle(checkpoint_file):
    completed = run_cli("--model", str(checkpoint_file), "--device", "cpu", PUZZLE)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "Puzzle:\n. . 8 | 9 . . | . . 5" in out
    assert "Predicted solution:" in out
    assert "valid solution: " in out
    assert "keeps the givens: " in out
    assert "supervision steps: 3 of 3" in out
    assert "confidence (sigmoid of the halt logit): " in out


def test_cli_rejects_bad_puzzle_in_one_line(checkpoint_file):
    completed = run_cli("--model", str(checkpoint_file), PUZZLE[:-1] + "x")
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "invalid puzzle: invalid character 'x' at position 81" in lines[0]
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("puzzle", "message"),
    [
        (PUZZLE[:80], "a grid needs exactly 81 cells, got 80"),
        ("11" + PUZZLE[2:], "the givens repeat a digit at r1c1, r1c2, r4c1"),
    ],
)
def test_main_rejects_invalid_puzzles(checkpoint_file, capsys, puzzle, message):
    assert solve.main(["--model", str(checkpoint_file), puzzle]) == 2
    assert message in capsys.readouterr().err


def test_main_learned_halting_with_budget(checkpoint_file, capsys):
    assert (
        solve.main(
            ["--model", str(checkpoint_file), "--halting", "learned", "--max-steps", "5", PUZZLE]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert " of 5\n" in out


def test_main_rejects_missing_and_foreign_model_files(tmp_path, capsys):
    assert solve.main(["--model", str(tmp_path / "none.pt"), PUZZLE]) == 2
    assert "not found" in capsys.readouterr().err
    text_file = tmp_path / "notes.pt"
    text_file.write_text("not a checkpoint")
    assert solve.main(["--model", str(text_file), PUZZLE]) == 2
    assert "is not a model checkpoint of this project" in capsys.readouterr().err


def test_main_rejects_training_state(tmp_path, capsys):
    path = tmp_path / "last.pt"
    torch.save({"format": "trm_pipeline.training/1", "model_state": {}}, path)
    assert solve.main(["--model", str(path), PUZZLE]) == 2
    assert "is a training state" in capsys.readouterr().err


def test_default_model_is_newest_best_model(tmp_path, monkeypatch, checkpoint_file, capsys):
    monkeypatch.chdir(tmp_path)
    assert solve.main([PUZZLE]) == 2
    assert "no model found at data/06_models/*/best_model.pt" in capsys.readouterr().err
    folder = tmp_path / "data" / "06_models" / "train_mlp"
    folder.mkdir(parents=True)
    (folder / "best_model.pt").write_bytes(checkpoint_file.read_bytes())
    assert solve.main(["--device", "cpu", PUZZLE]) == 0
    assert "Model: data/06_models/train_mlp/best_model.pt" in capsys.readouterr().out
