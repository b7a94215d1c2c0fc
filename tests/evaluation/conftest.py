"""Fixtures of the evaluation tests: tiny puzzle sets and a tiny model trained for a few steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trm_pipeline.dataset.build import augment_training_puzzles, build_model_inputs
from trm_pipeline.dataset.validation import PuzzleSet
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.sudoku import generate_puzzles
from trm_pipeline.training.checkpoints import model_checkpoint
from trm_pipeline.training.config import TrainingConfig
from trm_pipeline.training.loop import Trainer

TINY_MODEL = {
    "hidden_size": 32,
    "num_heads": 2,
    "num_deep_recursions": 2,
    "num_latent_steps": 2,
    "num_supervision_steps": 3,
    "puzzle_emb_len": 4,
    "forward_dtype": "float32",
}


def puzzle_inputs(count: int, seed: int, num_aug: int = 0, source: str = "generated") -> dict:
    """Generate ``count`` easy puzzles and tokenize them like the data pipeline does."""
    puzzles, solutions, ratings = generate_puzzles(count, 40, 50, seed=seed)
    table = PuzzleSet(
        question=puzzles,
        answer=solutions,
        rating=ratings.astype(np.int64),
        source=np.array([source] * count),
    )
    if num_aug:
        table = augment_training_puzzles(table, num_aug, seed)
    return build_model_inputs(table, "train" if num_aug else "test", {"source": "generated"})


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Run these small models on one thread: on a busy machine, two threads are much slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def test_inputs() -> dict[str, Any]:
    """Twelve test puzzles with ratings and two source names."""
    inputs = puzzle_inputs(12, seed=1)
    inputs["sources"] = np.array(["alpha"] * 8 + ["beta"] * 4)
    inputs["ratings"] = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 10, 40, 7], dtype=np.int64)
    return inputs


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, test_inputs) -> TinyRecursiveModel:
    """A tiny TRM (N_sup = 3) after four optimizer steps, as its EMA copy, in eval mode."""
    torch.manual_seed(0)
    training = TrainingConfig(
        epochs=4,
        eval_interval=4,
        global_batch_size=8,
        lr_warmup_steps=1,
        device="cpu",
        eval_subset_size=8,
        eval_batch_size=8,
        checkpoint_dir=str(tmp_path_factory.mktemp("checkpoints")),
    )
    trainer = Trainer(TRMConfig(**TINY_MODEL), training, puzzle_inputs(8, 0, 1), test_inputs)
    for _ in range(4):
        trainer.train_step()
    return trainer.evaluation_model().eval()


@pytest.fixture
def checkpoint_file(tmp_path: Path, trained_model, test_inputs) -> Path:
    """The trained tiny model saved as a model checkpoint (like best_model.pt)."""
    path = tmp_path / "best_model.pt"
    payload = model_checkpoint(
        trained_model.state_dict(), trained_model.config, test_inputs["metadata"], step=4, ema=True
    )
    torch.save(payload, path)
    return path
