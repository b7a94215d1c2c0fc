"""Device, forward dtype and compile resolution."""

import logging

import pytest
import torch

from trm_pipeline.model import device as device_module
from trm_pipeline.model import maybe_compile, resolve_device, resolve_forward_dtype


def test_resolve_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")

    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_without_cuda_raises_with_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    with pytest.raises(ValueError, match=r"CUDA is not available.*'cpu'"):
        resolve_device("cuda")


def test_mps_without_mps_raises(monkeypatch):
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)

    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")


def test_invalid_device_name_raises():
    with pytest.raises(ValueError, match="Invalid device 'gpu0'"):
        resolve_device("gpu0")


def test_forward_dtype_kept_when_supported(monkeypatch):
    monkeypatch.setattr(device_module, "_bfloat16_supported", lambda device: True)

    assert resolve_forward_dtype("bfloat16", "cpu") == "bfloat16"
    assert resolve_forward_dtype("float32", "cpu") == "float32"


def test_cpu_bfloat16_follows_onednn_probe(monkeypatch):
    monkeypatch.setattr(device_module, "_cpu_has_native_bfloat16", lambda: False)
    assert resolve_forward_dtype("bfloat16", "cpu") == "float32"

    monkeypatch.setattr(device_module, "_cpu_has_native_bfloat16", lambda: True)
    assert resolve_forward_dtype("bfloat16", "cpu") == "bfloat16"


def test_float16_is_never_replaced(monkeypatch):
    monkeypatch.setattr(device_module, "_bfloat16_supported", lambda device: False)

    assert resolve_forward_dtype("float16", "cpu") == "float16"


def test_forward_dtype_falls_back_with_log(monkeypatch, caplog):
    monkeypatch.setattr(device_module, "_bfloat16_supported", lambda device: False)

    with caplog.at_level(logging.WARNING, logger=device_module.__name__):
        resolved = resolve_forward_dtype("bfloat16", "cpu")

    assert resolved == "float32"
    assert "float32" in caplog.text


def test_forward_dtype_rejects_unknown_name():
    with pytest.raises(ValueError, match="forward_dtype must be one of"):
        resolve_forward_dtype("int8", "cpu")


def test_compile_auto_is_off_on_cpu():
    model = torch.nn.Linear(2, 2)

    assert maybe_compile(model, "auto") is model
    assert maybe_compile(model, False, device="cuda") is model


def test_compile_enabled_wraps_model():
    model = torch.nn.Linear(2, 2)

    compiled = maybe_compile(model, True)

    assert compiled is not model
    assert compiled._orig_mod is model


def test_compile_rejects_unknown_mode():
    with pytest.raises(ValueError, match="enabled must be True, False or 'auto'"):
        maybe_compile(torch.nn.Linear(2, 2), "always")
