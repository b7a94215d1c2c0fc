"""Training-state and model checkpoints, written atomically.

Two kinds of file live in a run's checkpoint folder:

- ``last.pt``: the whole training state (model, EMA, optimizers, schedulers, ACT carry,
  sampler position, RNG states, step, configs, dataset metadata). ``resume: auto`` continues
  from it.
- ``best.pt``: a model checkpoint (EMA weights, model config, dataset metadata, metrics),
  the file that evaluation, export and the solver load.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from trm_pipeline.atomic import atomic_path
from trm_pipeline.model.checkpoint import check_dataset_metadata, load_model_state
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.network import TinyRecursiveModel

logger = logging.getLogger(__name__)

TRAINING_STATE_FILE = "last.pt"
BEST_MODEL_FILE = "best.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with ``torch.save`` to a temporary file, then rename it onto ``path``."""
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by ``save_checkpoint`` (tensors and plain Python values)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint {path} not found; train a model first with "
            "`kedro run --pipelines=train_att` (or train_mlp)."
        )
    return torch.load(path, map_location=map_location, weights_only=True)


def model_checkpoint(
    model_state: dict[str, torch.Tensor],
    model_config: TRMConfig,
    dataset_metadata: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Bundle model weights with what is needed to rebuild and check the model."""
    return {
        "format": "trm_pipeline.model/1",
        "model_state": {key: value.detach().cpu() for key, value in model_state.items()},
        "model_config": model_config.to_dict(),
        "dataset_metadata": dataset_metadata,
        **extra,
    }


def build_model_from_checkpoint(
    checkpoint: dict[str, Any],
    device: str | torch.device = "cpu",
    dataset_metadata: dict[str, Any] | None = None,
) -> TinyRecursiveModel:
    """Rebuild a model from ``model_checkpoint`` output, in eval mode on ``device``.

    Raises:
        ValueError: ``dataset_metadata`` is given and its vocab, sequence length or token map
            differs from the data the checkpoint was trained on.
    """
    for key in ("model_state", "model_config", "dataset_metadata"):
        if key not in checkpoint:
            raise ValueError(
                f"The checkpoint has no {key!r}; it is not a model checkpoint of this project "
                "(expected best.pt or model.pt written by the training pipeline)."
            )
    if dataset_metadata is not None:
        check_dataset_metadata(checkpoint["dataset_metadata"], dataset_metadata)
    model = TinyRecursiveModel(TRMConfig.from_dict(checkpoint["model_config"]))
    load_model_state(model, checkpoint["model_state"])
    return model.to(device).eval()
