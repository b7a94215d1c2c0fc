"""Run an exported TRM with onnxruntime: the session, the model's metadata and the recursion.

``model.onnx`` (written by :mod:`.onnx_export`) computes ONE supervision step with the whole
recursion unrolled (T cycles of n latent updates and one answer update):

- inputs: ``tokens`` ``[B, 81]`` int64, ``answer`` (y) and ``latent`` (z) ``[B, P+81, D]``
  float32;
- outputs: ``logits`` ``[B, 81, V]`` float32, ``digits`` ``[B, 81]`` int64 (the most likely
  digit 1-9 of every cell), ``halt_logit`` ``[B]`` float32, and the new ``answer`` and
  ``latent`` to feed to the next step.

The initial state (y0, z0) is two fixed ``[D]`` vectors, the same at every position and for
every puzzle. They are stored in the model's metadata (key ``initial_state``, JSON
``{"answer": [...], "latent": [...]}``), so a caller needs onnxruntime only: no torch and
no ``onnx`` package. This module imports neither.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# onnxruntime 1.31 records usage events (process start, sessions, errors) in
# ~/.cache/Microsoft/DeveloperTools for upload to Microsoft's collector, unless this variable
# is set before onnxruntime is first imported in the process.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

logger = logging.getLogger(__name__)

FORMAT = "trm_pipeline.onnx/1"
INPUT_NAMES = ("tokens", "answer", "latent")
OUTPUT_NAMES = ("logits", "digits", "halt_logit", "new_answer", "new_latent")
INITIAL_STATE_KEY = "initial_state"
# Metadata of the int8 copy (see .quantization): its export_dtype, and the sha256 of the
# float32 file it was made from.
INT8_EXPORT_DTYPE = "int8-dynamic"
SOURCE_SHA256_KEY = "float32_sha256"
# File name of each precision in a model folder, as the export nodes write them.
MODEL_FILES = {"float32": "model.onnx", "int8": "model_int8.onnx"}
HALTING_MODES = ("learned", "fixed")
DEVICES = ("auto", "cpu", "cuda")
PIPELINE_HINT = "kedro run --pipelines=train_mlp --env quick"
# Errors onnxruntime raises for a file it cannot read (they derive from Exception only).
_ORT_LOAD_ERRORS = (
    OSError,
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.RuntimeException,
)
# onnxruntime's logger severities: 2 = warning (its default), 4 = fatal only.
_ORT_DEFAULT_SEVERITY = 2
_ORT_FATAL = 4


class ModelLoadError(RuntimeError):
    """Raised when the ONNX file is missing, unreadable or not an export of this project."""


# providers


def cuda_driver_present() -> bool:
    """Return whether the NVIDIA driver library loads, which the CUDA provider needs to start.

    The library is ``libcuda.so.1`` on Linux and ``nvcuda.dll`` on Windows. Other platforms
    return False.
    """
    names = {"linux": ("libcuda.so.1",), "win32": ("nvcuda.dll",)}.get(sys.platform, ())
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


@contextlib.contextmanager
def _quiet_onnxruntime() -> Iterator[None]:
    """Silence onnxruntime while the CUDA provider is tried.

    A missing CUDA library is logged as an error by onnxruntime's logger; a provider that
    fails harder makes the Python wrapper print an "EP Error" banner before it falls back.
    """
    ort.set_default_logger_severity(_ORT_FATAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        ort.set_default_logger_severity(_ORT_DEFAULT_SEVERITY)


def create_session(
    model: str | Path | bytes, device: str = "auto", threads: int | None = None
) -> ort.InferenceSession:
    """Create an onnxruntime session on CUDA when the CUDA provider initializes, else on the CPU.

    Args:
        model: Path to a ``.onnx`` file, or its serialized bytes.
        device: "auto" (CUDA if it works, else CPU), "cpu", or "cuda" (fail if CUDA does not
            initialize).
        threads: Threads of one operator on the CPU; None lets onnxruntime use one per
            physical core.

    The CUDA provider is tried only when onnxruntime-gpu is installed and the NVIDIA driver
    is present. The attempt runs with onnxruntime's logger silenced, and CUDA counts as
    initialized only when the session's ``get_providers()`` lists it, so a CPU-only machine
    gets no error output.

    Raises:
        ValueError: If ``device`` is not one of ``DEVICES``.
        RuntimeError: If ``device`` is "cuda" and the CUDA provider does not initialize.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}, got {device!r}.")
    source = str(model) if isinstance(model, Path) else model
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    cuda_possible = (
        "CUDAExecutionProvider" in ort.get_available_providers() and cuda_driver_present()
    )
    if device != "cpu" and cuda_possible:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        try:
            with _quiet_onnxruntime():
                session = ort.InferenceSession(source, options, providers=providers)
        except (
            *_ORT_LOAD_ERRORS,
            RuntimeError,
            ValueError,
        ):  # the CPU session below raises again if the model is bad
            session = None
        if session is not None and "CUDAExecutionProvider" in session.get_providers():
            return session
        logger.info("The CUDA provider did not initialize (CUDA or cuDNN libraries missing)")
    if device == "cuda":
        raise RuntimeError(
            "device='cuda' was requested but onnxruntime's CUDA provider did not initialize; "
            "install onnxruntime-gpu with matching CUDA and cuDNN libraries, or use 'auto'."
        )
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


# metadata


@dataclass(frozen=True)
class ModelInfo:
    """Model facts parsed from the exported graph's metadata.

    Attributes:
        variant: "att" or "mlp".
        num_deep_recursions: T, cycles inside one step (already unrolled in the graph).
        num_latent_steps: n, latent updates per cycle (unrolled).
        num_supervision_steps: N_sup, steps the model was trained to take.
        token_map: Token of each cell value: "<pad>", "<blank>", "1".."9".
        initial_answer: y0, ``[D]`` float32.
        initial_latent: z0, ``[D]`` float32.
        state_length: P+81 positions of y and z.
        model_config: The TRMConfig the model was trained with (its forward dtype included).
        mlflow_run_id: The MLflow run that exported it, or "".
        test_exact_accuracy: Exact accuracy of the checkpoint's last evaluation, or None.
        export_dtype: "float32", or "int8-dynamic" for the int8 copy.
        metadata: Every metadata entry as stored.
    """

    variant: str
    num_deep_recursions: int
    num_latent_steps: int
    num_supervision_steps: int
    token_map: dict[str, int]
    initial_answer: np.ndarray
    initial_latent: np.ndarray
    state_length: int
    model_config: dict[str, Any]
    mlflow_run_id: str
    test_exact_accuracy: float | None
    export_dtype: str
    metadata: dict[str, str]

    @property
    def is_int8(self) -> bool:
        return self.export_dtype == INT8_EXPORT_DTYPE

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> ModelInfo:
        """Parse the metadata written by :func:`trm_pipeline.export.onnx_export.onnx_metadata`.

        Raises:
            ModelLoadError: If the format tag or a required key is missing.
        """
        if metadata.get("format") != FORMAT:
            raise ModelLoadError(
                f"The ONNX file has format {metadata.get('format')!r}, expected {FORMAT!r}; "
                f"it was not exported by this project. Export one with `{PIPELINE_HINT}`."
            )
        try:
            config = json.loads(metadata["model_config"])
            state = json.loads(metadata[INITIAL_STATE_KEY])
            accuracy = metadata.get("test_exact_accuracy", "")
            return cls(
                variant=metadata["variant"],
                num_deep_recursions=int(metadata["num_deep_recursions"]),
                num_latent_steps=int(metadata["num_latent_steps"]),
                num_supervision_steps=int(metadata["num_supervision_steps"]),
                token_map={
                    key: int(value) for key, value in json.loads(metadata["token_map"]).items()
                },
                initial_answer=np.asarray(state["answer"], dtype=np.float32),
                initial_latent=np.asarray(state["latent"], dtype=np.float32),
                state_length=int(config["puzzle_emb_len"]) + int(config["seq_len"]),
                model_config=config,
                mlflow_run_id=metadata.get("mlflow_run_id", ""),
                test_exact_accuracy=float(accuracy) if accuracy else None,
                export_dtype=metadata.get("export_dtype", "float32"),
                metadata=dict(metadata),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ModelLoadError(
                f"The ONNX file's metadata is incomplete ({error!r}); export it again with "
                f"`{PIPELINE_HINT}`."
            ) from error

    def describe(self) -> str:
        """Return a one-line summary: variant, hidden size, T, n, N_sup and exact accuracy.

        The accuracy is that of the float32 model, also for an int8 copy, whose summary
        marks it so.
        """
        accuracy = (
            f"{self.test_exact_accuracy:.1%}" if self.test_exact_accuracy is not None else "n/a"
        )
        halting = self.metadata.get("test_halting")
        if halting and self.test_exact_accuracy is not None:
            accuracy += f" with {halting} halting"
        int8 = ""
        if self.is_int8:
            accuracy += " (of the float32 model)"
            int8 = ", int8 weights"
        return (
            f"TRM-{self.variant}: hidden {self.model_config.get('hidden_size')}, "
            f"T={self.num_deep_recursions}, n={self.num_latent_steps}, "
            f"N_sup={self.num_supervision_steps}, test exact accuracy {accuracy}{int8}"
        )


# the recursion


@dataclass
class StepArrays:
    """Outputs of one supervision step (numpy)."""

    logits: np.ndarray  # [B, 81, V] float32
    digits: np.ndarray  # [B, 81] int64, 1..9
    halt_logit: np.ndarray  # [B] float32
    answer: np.ndarray  # [B, P+81, D] float32
    latent: np.ndarray  # [B, P+81, D] float32


@dataclass
class Recursion:
    """Answers and halt logits of a batch run to halting, one row per supervision step.

    Row s contains each puzzle's answer after step s+1. After a puzzle halts, the later rows
    repeat the answer and halt logit of its halting step, as in the reference evaluation with
    learned halting.
    """

    digits: np.ndarray  # [S, B, 81] uint8, 1..9
    halt_logits: np.ndarray  # [S, B] float32
    steps: np.ndarray  # [B] int, supervision steps each puzzle used
    seconds: float

    @property
    def final_digits(self) -> np.ndarray:
        """``[B, 81]`` uint8: each puzzle's answer at its halting step."""
        return self.digits[-1]

    @property
    def halt_probabilities(self) -> np.ndarray:
        """``[S, B]``: sigmoid of the halt logits."""
        return 1.0 / (1.0 + np.exp(-self.halt_logits.astype(np.float64)))


class OnnxTRM:
    """An exported TRM in an onnxruntime session, with its metadata."""

    def __init__(self, session: ort.InferenceSession, path: Path | None = None) -> None:
        self.session = session
        self.path = path
        self.info = ModelInfo.from_metadata(session.get_modelmeta().custom_metadata_map)
        token_map = self.info.token_map
        # Cell value 0 (blank) .. 9 -> model token.
        self._tokens_of_values = np.array(
            [token_map["<blank>"]] + [token_map[str(digit)] for digit in range(1, 10)],
            dtype=np.int64,
        )

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> OnnxTRM:
        """Load a ``model.onnx`` of this project from ``path`` into a session on ``device``.

        Raises:
            ModelLoadError: If the file is missing, onnxruntime cannot read it or its
                metadata is not this project's. The message names the pipeline that writes
                the file.
            ValueError, RuntimeError: As :func:`create_session` raises them for ``device``.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(
                f"No exported model at {path}. Train and export one with `{PIPELINE_HINT}` "
                "(or --pipelines=train_att)."
            )
        try:
            session = create_session(path, device)
        except _ORT_LOAD_ERRORS as error:
            # onnxruntime puts its source location first and the reason last.
            lines = str(error).strip().splitlines()
            reason = lines[-1][-300:] if lines else ""
            raise ModelLoadError(
                f"Could not read {path} as an ONNX model ({type(error).__name__}: "
                f"{reason}). Export it again with `{PIPELINE_HINT}`."
            ) from error
        return cls(session, path)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def tokens_from_grids(self, grids: np.ndarray) -> np.ndarray:
        """Map ``[B, 81]`` cell values (0 = blank, 1..9) to ``[B, 81]`` int64 model tokens."""
        return self._tokens_of_values[np.asarray(grids, dtype=np.int64)]

    def initial_state(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return new copies of (y0, z0), each ``[batch_size, P+81, D]`` float32."""
        shape = (batch_size, self.info.state_length, self.info.initial_answer.shape[0])
        answer = np.ascontiguousarray(np.broadcast_to(self.info.initial_answer, shape))
        latent = np.ascontiguousarray(np.broadcast_to(self.info.initial_latent, shape))
        return answer, latent

    def step(self, tokens: np.ndarray, answer: np.ndarray, latent: np.ndarray) -> StepArrays:
        """Run one supervision step on ``[B, 81]`` tokens and the carried (y, z)."""
        feeds = {
            "tokens": np.asarray(tokens, dtype=np.int64),
            "answer": np.asarray(answer, dtype=np.float32),
            "latent": np.asarray(latent, dtype=np.float32),
        }
        return StepArrays(*self.session.run(list(OUTPUT_NAMES), feeds))

    def run(
        self, grids: np.ndarray, halting: str = "learned", max_steps: int | None = None
    ) -> Recursion:
        """Solve a batch of ``[B, 81]`` grids (0 = blank), step by step.

        Args:
            grids: Puzzles, ``[B, 81]`` values 0..9.
            halting: "learned" stops a puzzle after the first step whose halt logit is
                positive. "fixed" runs every puzzle for the full step limit.
            max_steps: Step limit. None or 0 means N_sup.

        Only the puzzles still running are fed to the next step, so halted puzzles cost
        nothing.

        Raises:
            ValueError: If ``halting`` is not one of ``HALTING_MODES`` or ``max_steps`` is
                negative.
        """
        if halting not in HALTING_MODES:
            raise ValueError(f"halting must be one of {list(HALTING_MODES)}, got {halting!r}.")
        if max_steps is not None and max_steps < 0:
            raise ValueError(f"max_steps is {max_steps}; use a positive step limit, or None.")
        limit = max_steps or self.info.num_supervision_steps
        started = time.perf_counter()
        tokens = self.tokens_from_grids(grids)
        batch = tokens.shape[0]
        answer, latent = self.initial_state(batch)
        digits = np.zeros((batch, tokens.shape[1]), dtype=np.uint8)
        halt_logit = np.zeros(batch, dtype=np.float32)
        steps = np.zeros(batch, dtype=np.int64)
        active = np.arange(batch)
        history_digits, history_halt = [], []
        for step in range(1, limit + 1):
            out = self.step(tokens[active], answer, latent)
            digits[active] = out.digits
            halt_logit[active] = out.halt_logit
            steps[active] = step
            history_digits.append(digits.copy())
            history_halt.append(halt_logit.copy())
            running = out.halt_logit <= 0 if halting == "learned" else np.ones(len(active), bool)
            if not running.any():
                break
            active = active[running]
            answer, latent = out.answer[running], out.latent[running]
        return Recursion(
            digits=np.stack(history_digits),
            halt_logits=np.stack(history_halt),
            steps=steps,
            seconds=time.perf_counter() - started,
        )


# int8 copies


def file_sha256(path: str | Path) -> str:
    """Return the hex sha256 of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stale_int8_message(model: OnnxTRM, path: Path) -> str | None:
    """Return why the int8 copy at ``path`` does not match the ``model.onnx`` beside it.

    The int8 copy stores the sha256 of the float32 file it was made from. An export that
    fails before writing a new copy leaves the old copy beside a new ``model.onnx``. Returns
    None when they match, or when ``model`` is not an int8 copy or has no file beside it.
    """
    source = model.info.metadata.get(SOURCE_SHA256_KEY)
    float32_path = path.with_name(MODEL_FILES["float32"])
    if source is None or not float32_path.is_file() or file_sha256(float32_path) == source:
        return None
    return (
        f"{path} was made from another {float32_path.name} than the one beside it; export "
        f"again with `{PIPELINE_HINT}`, or serve that {float32_path.name} instead."
    )
