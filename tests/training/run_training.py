"""Train a tiny TRM from the command line; the resume and DDP tests run it as a subprocess.

Prints ``STEP <n>`` after every optimizer step (flushed), so a test can kill it at a known
step, and saves the final weights to ``<checkpoint_dir>/final_weights.pt``. Other training
tests import its tiny configs and inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trm_pipeline.dataset.build import augment_training_puzzles, build_model_inputs
from trm_pipeline.dataset.validation import PuzzleSet
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.sudoku import generate_puzzles
from trm_pipeline.training.config import TrainingConfig
from trm_pipeline.training.loop import Trainer


class PrintSteps:
    def log_metrics(self, metrics, step):
        print(f"STEP {step}", flush=True)


def tiny_model_config(**overrides: Any) -> TRMConfig:
    """Build a float32 TRM config with hidden size 32, T=1, n=1 and N_sup=2.

    ``overrides`` replace any of these fields or set other ``TRMConfig`` fields.
    """
    values: dict[str, Any] = {
        "hidden_size": 32,
        "num_heads": 2,
        "num_deep_recursions": 1,
        "num_latent_steps": 1,
        "num_supervision_steps": 2,
        "puzzle_emb_len": 4,
        "forward_dtype": "float32",
    }
    return TRMConfig(**{**values, **overrides})


def tiny_training_config(checkpoint_dir: str | Path, **overrides: Any) -> TrainingConfig:
    """Build a CPU training config: batches of eight puzzles, checkpoints in ``checkpoint_dir``.

    ``overrides`` replace any of the fields set here or set other ``TrainingConfig`` fields.
    """
    values: dict[str, Any] = {
        "epochs": 100,
        "eval_interval": 100,
        "global_batch_size": 8,
        "device": "cpu",
        "eval_subset_size": 8,
        "checkpoint_dir": str(checkpoint_dir),
    }
    return TrainingConfig(**{**values, **overrides})


def tiny_inputs(count: int, seed: int, num_aug: int) -> dict:
    puzzles, solutions, ratings = generate_puzzles(count, 40, 50, seed=seed)
    table = PuzzleSet(
        question=puzzles,
        answer=solutions,
        rating=ratings.astype("int64"),
        source=np.array(["generated"] * count),
    )
    if num_aug:
        table = augment_training_puzzles(table, num_aug, seed)
    return build_model_inputs(table, "train" if num_aug else "test", {"source": "generated"})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint_dir")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--checkpoint-every", type=int, default=2)
    parser.add_argument("--exploration", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    model = tiny_model_config(
        num_deep_recursions=2,
        num_latent_steps=2,
        num_supervision_steps=3,
        halt_exploration_prob=args.exploration,
    )
    training = tiny_training_config(
        args.checkpoint_dir,
        epochs=1000,
        eval_interval=1000,
        max_steps=args.steps,
        lr=args.lr,
        task_lr=args.lr,
        lr_warmup_steps=2,
        eval_batch_size=8,
        log_every=1,
        checkpoint_every=args.checkpoint_every,
    )
    trainer = Trainer(
        model, training, tiny_inputs(8, 0, 3), tiny_inputs(8, 1, 0), observer=PrintSteps()
    )
    trainer.train()
    if trainer.context.is_main:
        print(f"FORWARD {type(trainer.forward_model).__name__}", flush=True)
        torch.save(trainer.model.state_dict(), f"{args.checkpoint_dir}/final_weights.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
