"""Device, activation dtype and torch.compile choices, resolved in one place."""

from __future__ import annotations

import logging

import torch
from torch import nn

from trm_pipeline.model.config import FORWARD_DTYPES

logger = logging.getLogger(__name__)

COMPILE_MODES = ("auto",)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """Pick the device named by ``name``.

    Args:
        name: "auto" (CUDA, then MPS, then CPU) or a torch device string such as "cpu",
            "cuda", "cuda:1" or "mps".

    Returns:
        The device.

    Raises:
        ValueError: If the name is not a device string, or the device is not available.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(
            f"Invalid device {name!r}; use 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'."
        ) from error
    if device.type == "cuda":
        _check_cuda(device)
    elif device.type == "mps" and not _mps_available():
        raise ValueError(
            "Device 'mps' was requested but MPS is not available; use 'auto' or 'cpu'."
        )
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unsupported device {name!r}; use 'auto', 'cpu', 'cuda' or 'mps'.")
    return device


def _check_cuda(device: torch.device) -> None:
    if not torch.cuda.is_available():
        raise ValueError(
            f"Device {str(device)!r} was requested but CUDA is not available in this PyTorch "
            f"build ({torch.__version__}); use 'auto' or 'cpu', or install a CUDA build of torch."
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(
            f"Device {str(device)!r} was requested but only {count} CUDA device(s) exist; "
            f"use an index below {count}."
        )


def _bfloat16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "mps":
        try:
            torch.zeros(1, dtype=torch.bfloat16, device=device)
        except (RuntimeError, TypeError):
            return False
    if device.type == "cpu":
        return _cpu_has_native_bfloat16()
    return True


def _cpu_has_native_bfloat16() -> bool:
    """Return whether oneDNN runs bf16 natively (AVX-512 or AMX) on this CPU.

    Without it, PyTorch emulates bf16 matmuls; on an AVX2-only CPU they measured about 5x
    slower than float32 with torch 2.13.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        logger.debug("torch build lacks the oneDNN bf16 probe; assuming bf16 is native")
        return True


def resolve_forward_dtype(name: str, device: torch.device | str) -> str:
    """Return ``name``, or "float32" if the device cannot run bfloat16.

    Args:
        name: "bfloat16", "float32" or "float16".
        device: The device the model will run on.

    Returns:
        A dtype name that ``TRMConfig.forward_dtype`` accepts.
    """
    if name not in FORWARD_DTYPES:
        raise ValueError(f"forward_dtype must be one of {list(FORWARD_DTYPES)}, got {name!r}.")
    device = torch.device(device)
    if name == "bfloat16" and not _bfloat16_supported(device):
        logger.warning(
            "bfloat16 is not supported natively on %s; running in float32 instead.", device
        )
        return "float32"
    return name


def maybe_compile(
    model: nn.Module,
    enabled: bool | str = "auto",
    device: torch.device | str | None = None,
) -> nn.Module:
    """Wrap ``model`` in ``torch.compile`` when requested.

    Args:
        model: The module to compile.
        enabled: True, False, or "auto" (compile on CUDA only; CPU and MPS run eagerly).
        device: Device the model runs on; defaults to the device of its first parameter.

    Returns:
        The compiled wrapper or ``model`` itself. A compiled wrapper prefixes state-dict keys
        with ``_orig_mod.``, which ``load_model_state`` removes.
    """
    if isinstance(enabled, str) and enabled not in COMPILE_MODES:
        raise ValueError(f"enabled must be True, False or 'auto', got {enabled!r}.")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    compile_now = device.type == "cuda" if enabled == "auto" else bool(enabled)
    if not compile_now:
        logger.info("torch.compile disabled on %s (enabled=%r)", device, enabled)
        return model
    logger.info("Compiling %s with torch.compile on %s", type(model).__name__, device)
    return torch.compile(model)
