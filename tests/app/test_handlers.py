"""The solver page's handlers, called directly on good and bad input with a tiny exported model."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import onnx
import pandas as pd
import pytest

from app import app as solver_app
from app import handlers
from tests.export.tiny import NUM_SUPERVISION_STEPS, write_tiny_export
from trm_pipeline.export.quantization import quantize_int8
from trm_pipeline.export.runtime import PIPELINE_HINT, OnnxTRM
from trm_pipeline.sudoku import generate_puzzles, grids_to_tokens

REPO_ROOT = Path(__file__).resolve().parents[2]
PUZZLES, SOLUTIONS, _ = generate_puzzles(2, 30, 34, seed=11)
PUZZLE_TEXT = handlers.text_from_grid(PUZZLES[0])
# Row 1 holds 1-8 and r2c9 a 9: no digit repeats, but r1c9 can only be 9, which box 3 has.
NO_SOLUTION = "12345678." + "........9" + "." * 63


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, OnnxTRM]:
    path = write_tiny_export(tmp_path_factory.mktemp("models") / "train_att" / "model.onnx")
    return {"TRM-att": OnnxTRM.load(path, device="cpu")}


def solve(models, text="", table=None, halting="learned") -> handlers.SolveView:
    return handlers.solve_puzzle(models, text, table, halting)


# good input


@pytest.mark.parametrize("halting", ["learned", "fixed"])
def test_text_puzzle_is_solved_and_judged(models, halting):
    view = solve(models, PUZZLE_TEXT, halting=halting)
    assert view.message == ""
    (answer,) = view.answers
    assert answer.label == "TRM-att"
    assert 1 <= answer.steps <= NUM_SUPERVISION_STEPS
    if halting == "fixed":
        assert answer.steps == NUM_SUPERVISION_STEPS
    assert answer.final.shape == (81,)
    assert answer.final.min() >= 1
    assert answer.verdict.startswith(("Solved", "Wrong"))
    assert np.array_equal(answer.solution, SOLUTIONS[0])
    html = handlers.answer_html(answer)
    assert html.count("<td") == 81
    assert 'id="answer-grid"' in html
    assert "supervision step" in answer.timing()


@pytest.mark.parametrize(
    "table",
    [
        handlers.table_from_grid(PUZZLES[0]),  # what the page's Dataframe sends
        PUZZLES[0].reshape(9, 9),  # numbers
        pd.DataFrame(PUZZLES[0].reshape(9, 9).astype(float)),
        {"headers": list("123456789"), "data": handlers.table_from_grid(PUZZLES[0])},
    ],
    ids=["strings", "numpy", "pandas", "gradio-dict"],
)
def test_grid_input_in_every_form(models, table):
    view = solve(models, "", table)
    assert view.message == ""
    assert np.array_equal(view.puzzle, PUZZLES[0])


def test_smaller_grid_is_padded_with_blanks():
    rows = handlers.table_from_grid(PUZZLES[0])[:8]
    rows[0] = rows[0][:5]
    grid = handlers.grid_from_table(rows)
    assert grid.reshape(9, 9)[8].tolist() == [0] * 9
    assert grid.reshape(9, 9)[0, 5:].tolist() == [0] * 4


def test_text_with_separators_and_zeros():
    pretty = "\n".join(
        " | ".join(PUZZLE_TEXT[row * 9 + col : row * 9 + col + 3] for col in (0, 3, 6))
        for row in range(9)
    ).replace(".", "0")
    assert np.array_equal(handlers.grid_from_text(pretty), PUZZLES[0])


def test_the_known_solution_is_judged_solved():
    solved, verdict = handlers.judge(PUZZLES[0], SOLUTIONS[0], SOLUTIONS[0])
    assert solved
    assert "unique solution" in verdict
    wrong = SOLUTIONS[0].copy()
    wrong[[0, 1]] = wrong[[1, 0]]  # swap two cells: rule conflicts, maybe changed givens
    solved, verdict = handlers.judge(PUZZLES[0], wrong, SOLUTIONS[0])
    assert not solved
    assert "break a rule" in verdict
    assert "2 cells differ" in verdict


def test_verdict_counts_one_cell_in_singular():
    puzzle = PUZZLES[0].copy()
    wrong = SOLUTIONS[0].copy()
    given_index = int(np.flatnonzero(puzzle)[0])
    wrong[given_index] = wrong[given_index] % 9 + 1  # one changed given, which also breaks a rule
    solved, verdict = handlers.judge(puzzle, wrong, SOLUTIONS[0])
    assert not solved
    assert "1 given was changed" in verdict
    assert "1 cell differs from the unique solution" in verdict


def test_several_solutions_run_with_a_note(models):
    view = solve(models, "1" + "." * 80)
    assert "more than one solution" in view.message
    assert len(view.answers) == 1
    assert view.answers[0].solution is None


# bad input: a plain message, no exception, no answer


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        (PUZZLE_TEXT[:80], None, "has 80 cells; it needs exactly 81"),
        (PUZZLE_TEXT + "5", None, "has 82 cells"),
        ("x" + PUZZLE_TEXT[1:], None, "Character 'x' at position 1 is not allowed"),
        ("", [["12"] + [""] * 8], "Row 1, column 1 holds '12'"),
        ("", [[""] * 9] * 10, "9 rows of 9 cells"),
        ("", [[""] * 10], "9 rows of 9 cells"),
        ("11" + "." * 79, None, "The givens break a rule"),
        (NO_SOLUTION, None, "has no solution"),
        ("", None, "Type a puzzle"),
        ("   ", [[""] * 9] * 9, "Type a puzzle"),
    ],
    ids=[
        "short",
        "long",
        "bad-character",
        "bad-cell",
        "too-many-rows",
        "too-many-columns",
        "conflicting-givens",
        "no-solution",
        "empty",
        "blank",
    ],
)
def test_bad_input_gives_a_message(models, text, table, expected):
    view = solve(models, text, table)
    assert expected in view.message
    assert view.answers == []


def test_unknown_halting_and_missing_models():
    assert "Halting must be one of" in solve({"m": None}, PUZZLE_TEXT, halting="never").message
    view = solve({}, PUZZLE_TEXT)
    assert PIPELINE_HINT in view.message
    assert view.answers == []


# the step-through view


def test_step_view_shows_halt_probability_and_changes(models):
    (answer,) = solve(models, PUZZLE_TEXT, halting="fixed").answers
    state = answer.to_state()
    first = handlers.step_html(state, 1)
    assert f"Step 1 of {NUM_SUPERVISION_STEPS}: halt probability" in first
    assert "cells changed" in first
    assert f"Step {NUM_SUPERVISION_STEPS} of" in handlers.step_html(state, 99)  # clamped
    assert "Solve a puzzle" in handlers.step_html(None, 1)


# the random-puzzle button


def test_random_puzzle_from_either_test_file(tmp_path):
    rng = np.random.default_rng(0)
    text, message = handlers.random_puzzle(None, rng)
    assert text == ""
    assert "kedro run --pipelines=data_processing" in message

    tokens_dir = tmp_path / "a"
    (tokens_dir / "05_model_input").mkdir(parents=True)
    np.savez(tokens_dir / "05_model_input/test_inputs.npz", inputs=grids_to_tokens(PUZZLES))
    primary_dir = tmp_path / "b"
    (primary_dir / "03_primary").mkdir(parents=True)
    np.savez(primary_dir / "03_primary/test_puzzles.npz", question=PUZZLES)
    for folder in (tokens_dir, primary_dir):
        puzzles = handlers.load_test_puzzles(folder)
        assert np.array_equal(puzzles, PUZZLES)
        text, message = handlers.random_puzzle(puzzles, rng)
        assert text in {handlers.text_from_grid(p) for p in PUZZLES}
        assert message.startswith("Test puzzle #")
    assert handlers.load_test_puzzles(tmp_path / "missing") is None


# model discovery and the page factory


def test_the_newest_model_of_each_variant_is_loaded(tmp_path):
    old = write_tiny_export(tmp_path / "train_att" / "model.onnx", "att")
    new = write_tiny_export(tmp_path / "train_att_rerun" / "model.onnx", "att")
    mlp = write_tiny_export(tmp_path / "train_mlp" / "model.onnx", "mlp")
    for age, path in enumerate((new, mlp, old)):
        stamp = 1_700_000_000 - 100 * age
        os.utime(path, (stamp, stamp))
    paths = solver_app.find_exports(tmp_path)
    assert paths == [new, mlp, old]
    models, errors = solver_app.load_models(paths, device="cpu")
    assert errors == []
    assert list(models) == ["TRM-att (train_att_rerun)", "TRM-mlp (train_mlp)"]
    only_mlp, _ = solver_app.load_models(paths, device="cpu", variant="mlp")
    assert list(only_mlp) == ["TRM-mlp (train_mlp)"]
    assert solver_app.find_exports(tmp_path / "none") == []


def write_int8_copy(folder: Path) -> Path:
    """Write the int8 copy of ``folder/model.onnx`` beside it, as the export nodes do."""
    float32 = onnx.load(folder / "model.onnx")
    path = folder / "model_int8.onnx"
    onnx.save_model(quantize_int8(float32), path)
    return path


def test_int8_copies_found_and_labelled(tmp_path):
    write_tiny_export(tmp_path / "train_att" / "model.onnx", "att")
    write_tiny_export(tmp_path / "train_mlp" / "model.onnx", "mlp")
    int8_paths = {write_int8_copy(tmp_path / name) for name in ("train_att", "train_mlp")}
    assert set(solver_app.find_exports(tmp_path, "int8")) == int8_paths
    assert len(solver_app.find_exports(tmp_path)) == 2  # the float32 files
    models, errors = solver_app.load_models(solver_app.find_exports(tmp_path, "int8"), "cpu")
    assert errors == []
    assert sorted(models) == ["TRM-att (train_att int8)", "TRM-mlp (train_mlp int8)"]
    for model in models.values():
        assert model.info.is_int8
        assert "int8 weights" in model.info.describe()
    view = solve(models, PUZZLE_TEXT)
    assert sorted(answer.label for answer in view.answers) == sorted(models)


def test_stale_int8_copy_is_rejected(tmp_path):
    folder = tmp_path / "train_att"
    write_tiny_export(folder / "model.onnx", "att")
    int8 = write_int8_copy(folder)
    write_tiny_export(folder / "model.onnx", "mlp")  # a newer export whose int8 step failed
    models, errors = solver_app.load_models([int8], device="cpu")
    assert models == {}
    assert len(errors) == 1
    assert "made from another model.onnx" in errors[0]
    assert PIPELINE_HINT in errors[0]


def test_export_check_report_is_matched(tmp_path):
    path = write_tiny_export(tmp_path / "models" / "train_att" / "model.onnx", "att")
    reports = tmp_path / "reports"
    models, errors = solver_app.load_models([path], "cpu", reports_dir=reports)
    assert list(models) == ["TRM-att (train_att)"]  # served, with a warning
    assert len(errors) == 1
    assert "without a passed export check" in errors[0]
    assert "onnx_verification.json not found" in errors[0]

    report_path = reports / "train_att" / "onnx_verification.json"
    report_path.parent.mkdir(parents=True)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    report_path.write_text(json.dumps({"passed": True, "onnx_sha256": sha256}))
    assert solver_app.load_models([path], "cpu", reports_dir=reports)[1] == []

    report_path.write_text(json.dumps({"passed": True, "onnx_sha256": "0" * 64}))
    _, errors = solver_app.load_models([path], "cpu", reports_dir=reports)
    assert len(errors) == 1
    assert "the check of another file" in errors[0]


def write_passed_report(reports: Path, folder: Path) -> Path:
    """Write the verification report of a passed check of both files in ``folder``."""
    report_path = reports / folder.name / "onnx_verification.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "passed": True,
        "onnx_sha256": hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest(),
        "int8": {"sha256": hashlib.sha256((folder / "model_int8.onnx").read_bytes()).hexdigest()},
    }
    report_path.write_text(json.dumps(report))
    return report_path


def test_auto_precision_serves_checked_int8(tmp_path):
    models_dir, reports = tmp_path / "models", tmp_path / "reports"
    for name, variant in (("train_att", "att"), ("train_mlp", "mlp")):
        write_tiny_export(models_dir / name / "model.onnx", variant)
        write_int8_copy(models_dir / name)
    write_passed_report(reports, models_dir / "train_att")
    chosen = solver_app.find_exports(models_dir, "auto", reports)
    assert sorted(path.relative_to(models_dir).as_posix() for path in chosen) == [
        "train_att/model_int8.onnx",
        "train_mlp/model.onnx",  # no report: the float32 file
    ]
    models, errors = solver_app.load_models(chosen, "cpu", reports_dir=reports)
    assert sorted(models) == ["TRM-att (train_att int8)", "TRM-mlp (train_mlp)"]
    assert len(errors) == 1
    assert "train_mlp/model.onnx is served without a passed export check" in errors[0]


def test_auto_precision_falls_back_to_float32(tmp_path):
    models_dir, reports = tmp_path / "models", tmp_path / "reports"
    folder = models_dir / "train_att"
    write_tiny_export(folder / "model.onnx", "att")
    write_int8_copy(folder)
    report_path = write_passed_report(reports, folder)
    assert solver_app.find_exports(models_dir, "auto", reports) == [folder / "model_int8.onnx"]
    assert solver_app.find_exports(models_dir, "auto") == [folder / "model.onnx"]

    write_tiny_export(folder / "model.onnx", "mlp")  # a newer export that failed its check
    assert solver_app.find_exports(models_dir, "auto", reports) == [folder / "model.onnx"]

    for text in ("[]", "{not json", json.dumps({"passed": False}), '{"passed": true, "int8": 1}'):
        write_passed_report(reports, folder)
        report_path.write_text(text)
        assert solver_app.find_exports(models_dir, "auto", reports) == [folder / "model.onnx"]

    (folder / "model.onnx").unlink()  # an int8 copy alone is served, checked or not
    assert solver_app.find_exports(models_dir, "auto", reports) == [folder / "model_int8.onnx"]


def test_conflicting_options_exit(tmp_path):
    model = write_tiny_export(tmp_path / "train_att" / "model.onnx", "att")
    with pytest.raises(SystemExit) as stopped:
        solver_app.parse_args(["--model", str(model), "--precision", "int8"])
    assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        solver_app.parse_args(["--models-dir", str(tmp_path / "none")])
    assert stopped.value.code == 2
    args = solver_app.parse_args(["--model", str(model)])
    assert args.precision == "float32"
    assert args.models_dir == solver_app.DEFAULT_MODELS_DIR
    assert solver_app.parse_args([]).precision == "auto"


def test_unreadable_model_gives_a_message(tmp_path):
    broken = tmp_path / "train_att" / "model.onnx"
    broken.parent.mkdir()
    broken.write_bytes(b"\x00not onnx")
    models, errors = solver_app.load_models([broken], device="cpu")
    assert models == {}
    assert len(errors) == 1
    assert PIPELINE_HINT in errors[0]


def test_build_app_with_and_without_models(models):
    assert isinstance(solver_app.build_app(models, test_puzzles=PUZZLES, seed=0), gr.Blocks)
    assert isinstance(solver_app.build_app({}, ["No model."]), gr.Blocks)


def test_command_line_help():
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "app" / "app.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in ("--model", "--variant", "--precision", "--host", "--port"):
        assert option in result.stdout


def test_missing_model_option_exits(tmp_path):
    missing = tmp_path / "none.onnx"
    with pytest.raises(SystemExit, match="No exported model at") as stopped:
        solver_app.main(["--model", str(missing), "--data-dir", str(tmp_path)])
    assert str(missing) in str(stopped.value)
