"""Loading model weights saved by compiled or distributed runs, and dataset compatibility checks."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from torch import Tensor, nn

logger = logging.getLogger(__name__)

# Key segment added by torch.compile (OptimizedModule) around the wrapped module.
COMPILE_PREFIX = "_orig_mod"
# Leading key segment added by DistributedDataParallel.
DDP_PREFIX = "module"
METADATA_FIELDS = ("vocab_size", "seq_len", "token_map")


def strip_parameter_name(name: str) -> str:
    """Remove ``_orig_mod.`` segments anywhere and leading ``module.`` segments from a key."""
    parts = [part for part in name.split(".") if part != COMPILE_PREFIX]
    while len(parts) > 1 and parts[0] == DDP_PREFIX:
        parts = parts[1:]
    return ".".join(parts)


def strip_compile_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``state_dict`` with torch.compile and DDP wrapper prefixes removed from its keys.

    Raises:
        ValueError: If two keys become the same after stripping.
    """
    stripped: dict[str, Any] = {}
    for key, value in state_dict.items():
        new_key = strip_parameter_name(key)
        if new_key in stripped:
            raise ValueError(
                f"State dict keys collide after removing wrapper prefixes: {key!r} -> {new_key!r}. "
                "Save the state dict of one unwrapped model."
            )
        stripped[new_key] = value
    return stripped


def unwrap_model(model: nn.Module) -> nn.Module:
    """Return the module inside torch.compile and DDP wrappers."""
    while True:
        inner = getattr(model, COMPILE_PREFIX, None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, DDP_PREFIX, None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def check_dataset_metadata(
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    fields: Iterable[str] = METADATA_FIELDS,
) -> None:
    """Check that a dataset matches the one a checkpoint was trained on.

    Args:
        expected: Metadata stored with the checkpoint.
        actual: Metadata of the dataset about to be used.
        fields: Keys to compare; a key missing from one side counts as a difference.

    Raises:
        ValueError: Naming every differing field with both values.
    """
    missing = "<missing>"
    differences = [
        f"{field}: checkpoint has {expected.get(field, missing)!r}, "
        f"dataset has {actual.get(field, missing)!r}"
        for field in fields
        if expected.get(field, missing) != actual.get(field, missing)
    ]
    if differences:
        raise ValueError(
            "Dataset metadata does not match the checkpoint ("
            + "; ".join(differences)
            + "). Rebuild the data with the checkpoint's settings or pick the checkpoint "
            "trained on this data."
        )


def _describe(names: Iterable[str], limit: int = 8) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_model_state(model: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Load weights strictly after removing torch.compile and DDP key prefixes.

    Raises:
        ValueError: If keys are missing or unexpected, or a tensor shape differs; the message
            names them and suggests building the model from the checkpoint's config.
    """
    target = unwrap_model(model)
    incoming = strip_compile_prefix(state_dict)
    own = target.state_dict()
    problems = []
    if missing := set(own) - set(incoming):
        problems.append(f"missing keys: {_describe(missing)}")
    if unexpected := set(incoming) - set(own):
        problems.append(f"unexpected keys: {_describe(unexpected)}")
    mismatched = [
        f"{key} {list(incoming[key].shape)} vs model {list(own[key].shape)}"
        for key in sorted(set(own) & set(incoming))
        if tuple(incoming[key].shape) != tuple(own[key].shape)
    ]
    if mismatched:
        problems.append(f"shape mismatches: {_describe(mismatched)}")
    if problems:
        raise ValueError(
            "Checkpoint does not fit the model ("
            + "; ".join(problems)
            + "). Build the model with the TRMConfig saved alongside the checkpoint."
        )
    target.load_state_dict(incoming, strict=True)
    logger.info("Loaded %d tensors into %s", len(incoming), type(target).__name__)
