"""End to end: the solver page served by ``python app/app.py``, driven in headless Chromium.

Uses the system Chromium (/usr/bin/chromium, installed by CI) through Playwright; Playwright
never downloads a browser here. Set SOLVER_SCREENSHOT=path to also save the page's
screenshot there (docs/solver.png is made that way).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from app import handlers
from tests.export.tiny import write_tiny_export
from trm_pipeline.sudoku import generate_puzzles, grids_to_tokens

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (CI installs Debian's chromium)"
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"The app exited with {server.returncode}:\n{server.stdout.read()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"The app did not answer on {url} within {STARTUP_SECONDS} s")


@pytest.fixture
def served_app(tmp_path):
    """Start the app on a free port of 127.0.0.1 with a tiny model and a small test split."""
    model = write_tiny_export(tmp_path / "models" / "train_att" / "model.onnx")
    puzzles = generate_puzzles(4, 30, 34, seed=5)[0]
    (tmp_path / "data" / "05_model_input").mkdir(parents=True)
    np.savez(tmp_path / "data/05_model_input/test_inputs.npz", inputs=grids_to_tokens(puzzles))
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(REPO_ROOT / "app" / "app.py"), "--model", str(model)]
    command += ["--data-dir", str(tmp_path / "data"), "--port", str(port), "--device", "cpu"]
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, server)
        yield url, puzzles
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_solve_in_the_browser(served_app, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, puzzles = served_app
    puzzle = handlers.text_from_grid(puzzles[0])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.locator("#puzzle-text textarea").fill(puzzle)
            first_given = int(np.flatnonzero(puzzles[0])[0])
            cell = page.locator("[role=gridcell]").nth(first_given)  # the editable grid follows
            sync_api.expect(cell).to_have_text(str(puzzles[0][first_given]), timeout=30_000)
            page.locator("#solve").click()
            grid = page.locator("#answer-grid")
            grid.wait_for(timeout=60_000)
            cells = grid.locator("td").all_inner_texts()
            assert len(cells) == 81
            assert all(text.strip() in set("123456789") for text in cells)
            verdict = page.locator("#verdict-0")
            verdict.get_by_text("Took").wait_for(timeout=30_000)
            assert verdict.inner_text().startswith(("Solved", "Wrong"))
            assert "halt probability" in page.content()

            page.screenshot(path=str(tmp_path / "solver.png"), full_page=True)
            if target := os.environ.get("SOLVER_SCREENSHOT"):
                page.screenshot(path=target, full_page=True)

            # bad input gives a message, not an error toast
            page.locator("#puzzle-text textarea").fill(puzzle[:80])
            page.locator("#solve").click()
            page.locator("#message").get_by_text("has 80 cells").wait_for(timeout=30_000)
        finally:
            browser.close()
