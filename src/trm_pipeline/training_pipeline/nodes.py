"""Node functions of the training pipelines. The logic lives in ``trm_pipeline.training``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from trm_pipeline.model.config import TRMConfig
from trm_pipeline.training import checkpoints, tracking
from trm_pipeline.training.config import TrainingConfig
from trm_pipeline.training.distributed import finish_distributed
from trm_pipeline.training.loop import Trainer

logger = logging.getLogger(__name__)


def train_model(
    train_inputs: dict[str, Any],
    test_inputs: dict[str, Any],
    variant: str,
    model_params: dict[str, Any],
    training_params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Train one TRM variant, logging to the active MLflow run.

    Returns:
        The best model checkpoint (EMA weights at the best periodic evaluation), the last
        model checkpoint, and a run summary (steps, wall time, device, eval metrics).
    """
    model_config = TRMConfig.from_dict(model_params)
    config = TrainingConfig.from_dict(training_params)
    trainer = Trainer(
        model_config, config, train_inputs, test_inputs, observer=tracking.MlflowObserver()
    )
    if trainer.context.is_main:
        tracking.log_run_context(
            variant, str(trainer.device), str(train_inputs["metadata"].get("source"))
        )
    logger.info(
        "Training %s on %s: %d steps of %d puzzles",
        variant,
        trainer.device,
        trainer.total_steps,
        config.global_batch_size,
    )
    result = trainer.train()
    finish_distributed(trainer.context)
    if not trainer.context.is_main:
        # Rank 0 alone runs evaluation and export and writes the outputs, so the others stop.
        logger.info("Rank %d finished training; rank 0 runs the rest.", trainer.context.rank)
        raise SystemExit(0)
    summary = {"variant": variant, **result.summary}
    tracking.log_run_artifacts(
        Path(config.checkpoint_dir) / checkpoints.BEST_MODEL_FILE,
        {"model": trainer.model_config.to_dict(), "training": config.to_dict()},
        summary,
        variant,
    )
    return result.best_checkpoint, result.last_checkpoint, summary
