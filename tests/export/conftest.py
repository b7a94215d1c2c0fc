"""Fixtures of the export tests: tiny exported models of both variants and test puzzles."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tests.export.tiny import DATASET_METADATA, VARIANTS, tiny_checkpoint, tiny_export
from trm_pipeline.sudoku import generate_puzzles, grids_to_tokens


@pytest.fixture(params=VARIANTS)
def variant(request) -> str:
    return request.param


@pytest.fixture
def checkpoint(variant: str) -> dict:
    return tiny_checkpoint(variant)


@pytest.fixture
def exported(variant: str) -> onnx.ModelProto:
    return tiny_export(variant)


@pytest.fixture(scope="session")
def test_inputs() -> dict:
    """Eight generated puzzles in the layout of the data pipeline's ``test_inputs``."""
    puzzles, solutions, _ = generate_puzzles(8, 30, 40, seed=3)
    return {
        "inputs": grids_to_tokens(puzzles),
        "labels": grids_to_tokens(solutions),
        "metadata": {**DATASET_METADATA, "split": "test"},
    }


@pytest.fixture(scope="session")
def puzzles() -> np.ndarray:
    return generate_puzzles(5, 30, 40, seed=4)[0]
