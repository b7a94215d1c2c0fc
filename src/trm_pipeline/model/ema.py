"""Exponential moving average (EMA) of the dense model weights, used for evaluation."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from trm_pipeline.model.checkpoint import strip_parameter_name, unwrap_model
from trm_pipeline.model.network import TASK_EMBEDDING_NAME


def _averaged_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Return the trainable parameters to average, keyed by unwrapped name.

    The task embedding is left out because the reference stores it as a buffer, and its EMA
    covers parameters only.
    """
    named = {}
    for name, param in unwrap_model(model).named_parameters():
        key = strip_parameter_name(name)
        if param.requires_grad and key.rsplit(".", maxsplit=1)[-1] != TASK_EMBEDDING_NAME:
            named[key] = param
    return named


class EMA:
    """Float32 shadow copies of the trainable weights: ``shadow <- decay * shadow + (1-decay) * p``.

    The parameter set is fixed when the EMA is created, so build it after the model is complete.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay!r}.")
        self.decay = decay
        self.shadow: dict[str, Tensor] = {
            name: param.detach().float().clone()
            for name, param in _averaged_parameters(model).items()
        }

    def _matching_parameters(self, model: nn.Module) -> dict[str, nn.Parameter]:
        params = _averaged_parameters(model)
        if set(params) != set(self.shadow):
            missing = sorted(set(self.shadow) ^ set(params))
            raise ValueError(
                f"Model parameters do not match the EMA (differing names: {missing[:8]}); "
                "use the model the EMA was created from."
            )
        return params

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move every shadow weight a ``1 - decay`` fraction of the way to the current weight."""
        for name, param in self._matching_parameters(model).items():
            self.shadow[name].lerp_(param.detach().float(), 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the averaged parameters of ``model`` with the shadow weights."""
        for name, param in self._matching_parameters(model).items():
            param.copy_(self.shadow[name])

    def averaged_model(self, model: nn.Module) -> nn.Module:
        """Return a deep copy of ``model`` carrying the shadow weights.

        Buffers and the task embedding keep their current values.
        """
        averaged = copy.deepcopy(unwrap_model(model))
        self.copy_to(averaged)
        return averaged

    def state_dict(self) -> dict[str, Any]:
        """Return the decay and the shadow tensors."""
        return {"decay": self.decay, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the decay and the shadow tensors saved by ``state_dict``."""
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            differing = sorted(set(shadow) ^ set(self.shadow))
            raise ValueError(
                f"EMA state does not match this model (differing names: {differing[:8]}); "
                "load the state saved for the same model config."
            )
        self.decay = float(state["decay"])
        for name, tensor in shadow.items():
            self.shadow[name].copy_(tensor)
