"""Sudoku solver page for exported TRM models (Gradio Blocks on onnxruntime; no torch).

Run ``python app/app.py`` after ``kedro run --pipelines=train_mlp --env quick``; it serves
http://127.0.0.1:7860 with the newest export (``data/06_models/*/``) of each variant side by
side: its int8 copy ``model_int8.onnx`` where both that and ``model.onnx`` passed the export
check, else ``model.onnx``. ``--precision float32|int8`` picks one kind,
``--model PATH`` or ``--variant att|mlp`` one model; ``--host`` and ``--port`` change the
address. The page never uses Gradio's share tunnel or analytics.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Read at import: no version check or analytics calls to gradio.app, and no usage events
# stored by onnxruntime for upload to Microsoft.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

if __package__ in (None, ""):  # run as `python app/app.py`: make `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradio as gr
import numpy as np

from app import handlers
from app.render import message_html
from trm_pipeline.export.runtime import (
    DEVICES,
    HALTING_MODES,
    MODEL_FILES,
    ModelLoadError,
    OnnxTRM,
    file_sha256,
    stale_int8_message,
)

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS_DIR = PROJECT_ROOT / "data" / "06_models"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
VARIANTS = ("att", "mlp")
PRECISIONS = ("auto", *MODEL_FILES)
EXAMPLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."


# finding and loading models


def find_exports(
    models_dir: Path, precision: str = "auto", reports_dir: Path | None = None
) -> list[Path]:
    """Return one model file per folder of ``models_dir``, newest first.

    ``float32`` and ``int8`` take every ``*/model.onnx`` or ``*/model_int8.onnx``. ``auto``
    takes a folder's int8 copy where both files passed their export check on record in
    ``reports_dir``, and its ``model.onnx`` otherwise (always, when ``reports_dir`` is None).
    """
    if precision == "auto":
        names = MODEL_FILES.values()
        folders = {path.parent for name in names for path in Path(models_dir).glob(f"*/{name}")}
        files = [_checked_int8_or_float32(folder, reports_dir) for folder in folders]
    else:
        files = list(Path(models_dir).glob(f"*/{MODEL_FILES[precision]}"))
    return sorted(files, key=lambda path: path.stat().st_mtime, reverse=True)


def _checked_int8_or_float32(folder: Path, reports_dir: Path | None) -> Path:
    """Return the int8 copy in ``folder`` if both files passed the export check, else model.onnx."""
    float32, int8 = folder / MODEL_FILES["float32"], folder / MODEL_FILES["int8"]
    if not float32.is_file():
        return int8
    checked = (
        reports_dir is not None
        and int8.is_file()
        and export_check_problem(float32, False, reports_dir) is None
        and export_check_problem(int8, True, reports_dir) is None
    )
    return int8 if checked else float32


def export_check_problem(path: Path, int8: bool, reports_dir: Path) -> str | None:
    """Return why ``path`` has no passed export check on record, or None when it has one.

    The verification node writes ``<reports_dir>/<folder>/onnx_verification.json`` with the
    sha256 of each file it checked, and only when both files pass. A file that failed its
    check, or was copied from elsewhere, does not match the report.
    """
    report_path = Path(reports_dir) / path.parent.name / "onnx_verification.json"
    try:
        report = json.loads(report_path.read_text())
    except FileNotFoundError:
        return f"{report_path} not found"
    except (OSError, ValueError) as error:
        return f"{report_path} is unreadable ({error})"
    if not isinstance(report, dict):
        return f"{report_path} is not a verification report (a JSON object)"
    section = report.get("int8") if int8 else report
    checked = (
        section.get("sha256" if int8 else "onnx_sha256") if isinstance(section, dict) else None
    )
    if report.get("passed") is True and checked == file_sha256(path):
        return None
    return f"{report_path} is the check of another file (this one failed it, or was copied)"


def unchecked_message(model: OnnxTRM, path: Path, reports_dir: Path) -> str | None:
    """Return a warning for a model served without a passed export check, or None."""
    reason = export_check_problem(path, model.info.is_int8, reports_dir)
    if reason is None:
        return None
    return (
        f"{path} is served without a passed export check: {reason}. Rerun the pipeline that "
        f"exported it (e.g. `kedro run --pipelines={path.parent.name} --env quick`) and read "
        "its verification message."
    )


def load_models(
    paths: Sequence[Path],
    device: str = "auto",
    variant: str | None = None,
    reports_dir: Path | None = None,
) -> tuple[dict[str, OnnxTRM], list[str]]:
    """Open the first (newest) model of each variant in ``paths``.

    Args:
        paths: Candidate files, newest first.
        device: onnxruntime device, see ``create_session``.
        variant: Keep only this variant ("att" or "mlp"); None keeps one of each.
        reports_dir: The project's ``data/08_reporting``. When given, a model without a
            passed export check there is still served, with a warning.

    Returns:
        The loaded models by label, and a message for each file that could not be read or
        was not checked.
    """
    models: dict[str, OnnxTRM] = {}
    errors: list[str] = []
    seen: set[str] = set()
    for path in paths:
        try:
            model = OnnxTRM.load(path, device=device)
        except ModelLoadError as error:
            errors.append(str(error))
            continue
        name = model.info.variant
        if name in seen or (variant is not None and name != variant):
            continue
        stale = stale_int8_message(model, path)
        if stale is not None:
            errors.append(stale)
            continue
        seen.add(name)
        unchecked = None if reports_dir is None else unchecked_message(model, path, reports_dir)
        if unchecked is not None:
            errors.append(unchecked)
        int8 = " int8" if model.info.is_int8 else ""
        label = f"TRM-{name} ({path.parent.name}{int8})"
        models[label] = model
        logger.info("Loaded %s from %s on %s", label, path, model.providers[0])
    return models, errors


# the page


def _model_summary(models: dict[str, OnnxTRM], errors: list[str]) -> str:
    lines = [f"- **{label}**: {model.info.describe()}" for label, model in models.items()]
    lines += [f"- {error}" for error in errors]
    if not models and not errors:
        lines.append(f"- {handlers.no_model_message()}")
    return "\n".join(lines)


def _empty_outputs(label: str) -> list:
    """Grid, verdict, step slider, step view and state of a model column with no answer."""
    return [message_html(f"{label}: no answer yet."), "", gr.Slider(1, 2, value=1), "", None]


def build_app(
    models: dict[str, OnnxTRM],
    errors: Sequence[str] = (),
    test_puzzles: np.ndarray | None = None,
    seed: int | None = None,
) -> gr.Blocks:
    """Build the page around loaded models (none is fine: the page explains what to run)."""
    rng = np.random.default_rng(seed)
    labels = list(models)
    with gr.Blocks(title="TRM Sudoku solver") as demo:
        gr.Markdown(
            "# Tiny Recursive Model: Sudoku solver\n"
            "Type a puzzle (81 characters row by row, `.` or `0` for a blank) or fill in the "
            "grid, then press **Solve**.\n\n" + _model_summary(models, list(errors))
        )
        with gr.Row():
            with gr.Column(scale=1):
                text = gr.Textbox(
                    label="Puzzle as 81 characters", placeholder=EXAMPLE, elem_id="puzzle-text"
                )
                table = gr.Dataframe(
                    value=handlers.table_from_grid(np.zeros(81, np.uint8)),
                    headers=[str(col) for col in range(1, 10)],
                    row_count=9,
                    column_count=9,
                    datatype="str",
                    type="array",
                    interactive=True,
                    label="Puzzle grid (editable)",
                )
                halting = gr.Radio(
                    list(HALTING_MODES),
                    value="learned",
                    label="Halting: learned (stop when the halt head says so) or fixed (N_sup)",
                )
                with gr.Row():
                    solve_button = gr.Button("Solve", variant="primary", elem_id="solve")
                    random_button = gr.Button("Random puzzle", elem_id="random")
                    clear_button = gr.Button("Clear", elem_id="clear")
                message = gr.Markdown(elem_id="message")
            outputs, views = [], []
            for index, label in enumerate(labels):
                with gr.Column(scale=1):
                    grid = gr.HTML(message_html(f"{label}: no answer yet."))
                    verdict = gr.Markdown(elem_id=f"verdict-{index}")
                    slider = gr.Slider(1, 2, value=1, step=1, label="Supervision step")
                    step_view = gr.HTML()
                    state = gr.State(None)
                outputs += [grid, verdict, slider, step_view, state]
                views.append((slider, state, step_view))

        def on_solve(text_value, table_value, halting_value):
            view = handlers.solve_puzzle(models, text_value, table_value, halting_value)
            updates = [view.message]
            by_label = {answer.label: answer for answer in view.answers}
            for label in labels:
                answer = by_label.get(label)
                if answer is None:
                    updates += _empty_outputs(label)
                    continue
                state = answer.to_state()
                updates += [
                    handlers.answer_html(answer),
                    f"**{answer.verdict}**  \nTook {answer.timing()}.",
                    gr.Slider(1, max(answer.steps, 2), value=answer.steps, step=1),
                    handlers.step_html(state, answer.steps),
                    state,
                ]
            return updates

        def on_random():
            puzzle, note = handlers.random_puzzle(test_puzzles, rng)
            grid = handlers.grid_from_text(puzzle) if puzzle else np.zeros(81, np.uint8)
            return puzzle, handlers.table_from_grid(grid), note

        def on_text(text_value):
            try:
                return handlers.table_from_grid(handlers.grid_from_text(text_value or ""))
            except handlers.PuzzleInputError:
                return gr.skip()

        def on_table(table_value):
            try:
                return handlers.text_from_grid(handlers.grid_from_table(table_value))
            except handlers.PuzzleInputError:
                return ""

        def on_clear():
            empty = handlers.table_from_grid(np.zeros(81, np.uint8))
            return ["", empty, ""] + [value for label in labels for value in _empty_outputs(label)]

        inputs = [text, table, halting]
        solve_button.click(on_solve, inputs, [message, *outputs], api_name="solve")
        text.submit(on_solve, inputs, [message, *outputs], api_visibility="private")
        random_button.click(on_random, None, [text, table, message], api_name="random")
        clear_button.click(on_clear, None, [text, table, message, *outputs], api_name="clear")
        text.change(on_text, text, table, api_visibility="private")
        table.input(on_table, table, text, api_visibility="private")
        for slider, state, step_view in views:
            slider.change(handlers.step_html, [state, slider], step_view, api_visibility="private")
    return demo


# command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve the TRM Sudoku solver page (exported ONNX models, onnxruntime)."
    )
    parser.add_argument(
        "--model", type=Path, help="an exported model.onnx (or model_int8.onnx) to serve"
    )
    parser.add_argument(
        "--variant", choices=VARIANTS, help="serve only the newest export of this variant"
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        help=f"folder searched for */model.onnx or */model_int8.onnx (default: "
        f"{DEFAULT_MODELS_DIR})",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto (the default): each export's model_int8.onnx where it and model.onnx "
        "passed the export check, else model.onnx; float32: model.onnx; int8: "
        "model_int8.onnx (int8 weights, 1.4 to 3.6 times faster on a CPU at the paper size)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="project data folder with the test split (default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="onnxruntime device: CUDA only where it initializes (default: auto)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.model is not None and (args.precision or args.models_dir):
        parser.error(
            "--model names one file; --precision and --models-dir choose files in a folder. "
            "Pass --model data/06_models/<pipeline>/model_int8.onnx for an int8 copy."
        )
    if args.models_dir is not None and not args.models_dir.is_dir():
        parser.error(f"--models-dir {args.models_dir} does not exist; pass a folder of exports.")
    args.precision = args.precision or ("float32" if args.model is not None else "auto")
    args.models_dir = args.models_dir or DEFAULT_MODELS_DIR
    return args


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    reports_dir = Path(args.data_dir) / "08_reporting"
    if args.model is not None:
        paths = [args.model]
    else:
        paths = find_exports(args.models_dir, args.precision, reports_dir)
    models, errors = load_models(paths, args.device, args.variant, reports_dir)
    if args.model is not None and not models:
        # An explicit --model that cannot be served is a usage error, not an empty page.
        reason = errors[0] if errors else f"{args.model} is not a TRM-{args.variant} model."
        raise SystemExit(f"error: --model {args.model}: {reason}")
    if not models and not errors:
        file_name = MODEL_FILES.get(args.precision, MODEL_FILES["float32"])
        where = args.model or f"{args.models_dir}/*/{file_name}"
        kind = f"{args.variant} " if args.variant else ""
        errors.append(handlers.no_model_message(f"No {kind}model at {where}."))
    for error in errors:
        logger.warning("%s", error)
    demo = build_app(models, errors, handlers.load_test_puzzles(args.data_dir))
    try:
        demo.launch(server_name=args.host, server_port=args.port, share=False)
    except OSError as error:
        raise SystemExit(
            f"error: cannot serve on {args.host}:{args.port} ({error}). Pass a free --port."
        ) from error


if __name__ == "__main__":
    main()
