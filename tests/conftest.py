"""Shared fixtures: no telemetry, real puzzles from ../shared, and an isolated Kedro project."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXTERNAL_CSV = REPO_ROOT.parent / "shared" / "data" / "external_generated_5000.csv"

# Never phone home from tests, whatever the caller's environment says.
os.environ.update(
    {
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ORT_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
)


@pytest.fixture
def external_csv() -> Path:
    """The 5,000 real external puzzles in the Sudoku-Extreme CSV layout."""
    if not EXTERNAL_CSV.is_file():
        pytest.skip(f"{EXTERNAL_CSV} is missing; it ships in the shared folder beside the repo")
    return EXTERNAL_CSV


RunPipeline = Callable[..., dict[str, Any]]


def nest_params(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{"data.seed": 1}`` into ``{"data": {"seed": 1}}``, as ``kedro run --params`` does."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        target = nested
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return nested


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with copies of conf/ and pyproject.toml, set as the CWD.

    Data paths in the catalog are
    relative to the project, so runs write into this folder, and MLflow logs to a SQLite
    store inside it.
    """
    shutil.copytree(REPO_ROOT / "conf", tmp_path / "conf")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # Kedro checks that the source folder exists; the package is imported from the install.
    (tmp_path / "src").mkdir()
    for layer in ("01_raw", "03_primary", "05_model_input", "06_models", "08_reporting"):
        (tmp_path / "data" / layer).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.fixture
def run_pipeline(kedro_project: Path) -> RunPipeline:
    """Run a pipeline through ``KedroSession`` in ``kedro_project`` and return its outputs.

    ``params`` uses dotted keys (``{"data.seed": 1}``) like ``kedro run --params``.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(kedro_project)

    def run(
        pipeline: str, env: str = "test", params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with KedroSession.create(
            project_path=kedro_project,
            env=env,
            runtime_params=nest_params(params or {}),
        ) as session:
            return session.run(pipeline_names=[pipeline])

    return run
