"""The training loop: streaming ACT deep supervision, EMA, checkpoints and resume.

Every optimizer step advances each slot of the ACT carry by one supervision step, as in the
reference: a slot keeps its puzzle for up to N_sup consecutive steps until it halts, then
takes the next sampled puzzle.
"""

from __future__ import annotations

import logging
import math
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from trm_pipeline.evaluation import evaluate_model
from trm_pipeline.model.act import ACTCarry, act_step, initial_carry
from trm_pipeline.model.checkpoint import check_dataset_metadata
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.device import maybe_compile, resolve_device, resolve_forward_dtype
from trm_pipeline.model.ema import EMA
from trm_pipeline.model.losses import act_loss, normalize_metrics
from trm_pipeline.model.network import (
    TinyRecursiveModel,
    count_parameters,
    dense_parameters,
    task_parameters,
)
from trm_pipeline.model.optim import AdamATan2, SignSGD, learning_rate_factor
from trm_pipeline.training import checkpoints
from trm_pipeline.training.config import TrainingConfig
from trm_pipeline.training.distributed import (
    DistributedContext,
    all_reduce_sums,
    init_distributed,
    wrap_data_parallel,
)
from trm_pipeline.training.sampler import GroupBatchSampler

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class TrainingObserver(Protocol):
    """Receives metrics as training runs (the MLflow logger implements it)."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...


@dataclass
class TrainingResult:
    best_checkpoint: dict[str, Any]
    last_checkpoint: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Trains one TRM variant on model inputs built by the data pipeline.

    Args:
        model_config: Architecture; vocab size and sequence length are taken from the data.
        config: Optimisation, evaluation and checkpoint settings.
        train_inputs: Training model inputs (``inputs``, ``labels``, ``group_indices``,
            ``metadata``).
        test_inputs: Test model inputs; a seeded subset is used for periodic evaluation.
        observer: Optional metrics sink (rank 0 only).
    """

    def __init__(
        self,
        model_config: TRMConfig,
        config: TrainingConfig,
        train_inputs: dict[str, Any],
        test_inputs: dict[str, Any],
        observer: TrainingObserver | None = None,
    ) -> None:
        self.config = config
        self.metadata = train_inputs["metadata"]
        self.device = resolve_device(config.device)
        self.context: DistributedContext = init_distributed(self.device.type)
        if self.context.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.context.local_rank)
        if config.global_batch_size % self.context.world_size:
            raise ValueError(
                f"training.global_batch_size {config.global_batch_size} is not divisible by "
                f"the {self.context.world_size} processes; pick a multiple."
            )
        self.local_batch_size = config.global_batch_size // self.context.world_size
        self.observer = observer if self.context.is_main else None
        self.checkpoint_dir = Path(config.checkpoint_dir)

        model_config.vocab_size = int(self.metadata["vocab_size"])
        model_config.seq_len = int(self.metadata["seq_len"])
        model_config.forward_dtype = resolve_forward_dtype(model_config.forward_dtype, self.device)
        self.model_config = model_config
        # Every process builds the same initial weights; rank 0's copy is broadcast anyway.
        self._seed_everything(config.seed)
        self.model = TinyRecursiveModel(model_config).to(self.device)
        # DistributedDataParallel first, then torch.compile on top, as PyTorch recommends.
        self.forward_model = maybe_compile(
            wrap_data_parallel(self.model, self.context), config.compile, device=self.device
        )
        self.dense_optimizer = AdamATan2(
            dense_parameters(self.model),
            lr=config.lr,
            betas=(config.beta1, config.beta2),
            weight_decay=config.weight_decay,
        )
        self.task_optimizer = SignSGD(
            task_parameters(self.model), lr=config.task_lr, weight_decay=config.task_weight_decay
        )
        self.ema = EMA(self.model, decay=config.ema_rate) if config.ema else None

        self.train_inputs = train_inputs["inputs"]
        self.train_labels = train_inputs["labels"]
        self.sampler = GroupBatchSampler(
            train_inputs["group_indices"],
            config.global_batch_size,
            config.eval_interval,
            config.seed,
        )
        self.total_steps = self._count_total_steps()
        self.eval_rows = self._choose_eval_rows(len(test_inputs["inputs"]))
        self.test_inputs = test_inputs
        self.carry: ACTCarry = initial_carry(self.model, self.local_batch_size, self.device)
        self.exploration = torch.Generator(device=self.device)
        self.exploration.manual_seed(config.seed + 1_000 + self.context.rank)
        self.step = 0
        self.best_exact_accuracy = -1.0
        self.best_blank_accuracy = -1.0
        self.best_step = 0
        self.last_eval: dict[str, float] = {}
        self.last_eval_step = -1
        self._interrupted = False

    # setup helpers

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        torch.manual_seed(seed)

    def _count_total_steps(self) -> int:
        passes = math.ceil(self.config.epochs / self.config.eval_interval)
        total = passes * self.sampler.batches_per_pass
        if self.config.max_steps is not None:
            total = min(total, self.config.max_steps)
        return total

    def _choose_eval_rows(self, num_test: int) -> np.ndarray:
        size = self.config.eval_subset_size
        if size is None or size >= num_test:
            return np.arange(num_test)
        rng = np.random.default_rng(self.config.seed)
        return np.sort(rng.choice(num_test, size=size, replace=False))

    @property
    def eval_every(self) -> int:
        return self.sampler.batches_per_pass

    def learning_rates(self) -> tuple[float, float]:
        factor = learning_rate_factor(
            self.step,
            warmup_steps=self.config.lr_warmup_steps,
            total_steps=self.total_steps,
            min_ratio=self.config.lr_min_ratio,
            schedule=self.config.lr_schedule,
        )
        return self.config.lr * factor, self.config.task_lr * factor

    # one optimizer step

    def _local_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.sampler.next_batch()
        start = self.context.rank * self.local_batch_size
        rows = rows[start : start + self.local_batch_size]
        tokens = torch.from_numpy(self.train_inputs[rows].astype(np.int64))
        labels = torch.from_numpy(self.train_labels[rows].astype(np.int64))
        return tokens.to(self.device), labels.to(self.device)

    def train_step(self) -> dict[str, float]:
        """Advance every carry slot one supervision step and take one optimizer step."""
        tokens, labels = self._local_batch()
        self.model.train()
        self.carry, output = act_step(
            self.model,
            self.carry,
            tokens,
            labels,
            training=True,
            generator=self.exploration,
            forward=self.forward_model,
        )
        loss, sums = act_loss(output, self.carry, loss_type=self.model_config.loss_type)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"The loss is {loss.item()} at step {self.step + 1}. Training stopped; the last "
                f"good checkpoint in {self.checkpoint_dir} is kept. Lower training.lr, or use "
                "forward_dtype float32 to rule out a precision problem."
            )
        # The data-parallel wrapper averages over processes: mean of (local sum / local batch)
        # is the gradient of (global sum / global batch).
        (loss / self.local_batch_size).backward()

        self.step += 1
        dense_lr, task_lr = self.learning_rates()
        for optimizer, lr in ((self.dense_optimizer, dense_lr), (self.task_optimizer, task_lr)):
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)

        all_reduce_sums(sums, self.context)
        metrics = normalize_metrics(sums, self.config.global_batch_size)
        metrics["lr"] = dense_lr
        return metrics

    # evaluation and the best model

    def evaluation_model(self) -> TinyRecursiveModel:
        """The weights used for evaluation: the EMA copy when EMA is on."""
        if self.ema is None:
            return self.model
        return self.ema.averaged_model(self.model)

    def evaluate(self) -> dict[str, float]:
        """Evaluate on the seeded test subset; keep ``best.pt`` when the score improves.

        The score is exact accuracy, then blank-cell accuracy.
        """
        model = self.evaluation_model()
        result = evaluate_model(
            model,
            self.test_inputs["inputs"][self.eval_rows],
            self.test_inputs["labels"][self.eval_rows],
            batch_size=self.config.eval_batch_size,
            device=self.device,
            progress=False,
        )
        metrics = result.metrics()
        self.last_eval = metrics
        self.last_eval_step = self.step
        logger.info(
            "step %d eval: exact_accuracy %.4f, blank_accuracy %.4f, q_halt_accuracy %.4f "
            "(%d puzzles)",
            self.step,
            metrics["exact_accuracy"],
            metrics["blank_accuracy"],
            metrics["q_halt_accuracy"],
            metrics["count"],
        )
        # Blank-cell accuracy breaks ties, which matter while exact accuracy is still 0.
        score = (metrics["exact_accuracy"], metrics["blank_accuracy"])
        if score > (self.best_exact_accuracy, self.best_blank_accuracy):
            self.best_exact_accuracy, self.best_blank_accuracy = score
            self.best_step = self.step
            if self.context.is_main:
                checkpoints.save_checkpoint(
                    self.checkpoint_dir / checkpoints.BEST_MODEL_FILE,
                    self._model_checkpoint(model, metrics),
                )
        return metrics

    def _model_checkpoint(self, model: TinyRecursiveModel, metrics: dict) -> dict[str, Any]:
        return checkpoints.model_checkpoint(
            model.state_dict(),
            self.model_config,
            self.metadata,
            step=self.step,
            eval_metrics=metrics,
            ema=self.ema is not None,
        )

    # training state: save and resume

    def _gather_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate a per-process tensor over processes along dim 0 (rank order)."""
        if not self.context.enabled:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.context.world_size)]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    def training_state(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit: weights, optimizers, carry, RNGs."""
        carry = {name: self._gather_rows(value).cpu() for name, value in vars(self.carry).items()}
        exploration = self._gather_rows(self.exploration.get_state().to(self.device)).cpu()
        return {
            "format": "trm_pipeline.training/1",
            "step": self.step,
            "model_state": self.model.state_dict(),
            "ema_state": self.ema.state_dict() if self.ema is not None else None,
            "dense_optimizer": self.dense_optimizer.state_dict(),
            "task_optimizer": self.task_optimizer.state_dict(),
            "carry": carry,
            "sampler": self.sampler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "exploration": exploration.view(self.context.world_size, -1),
                "python": list(random.getstate()[1]),
            },
            "best": {
                "exact_accuracy": self.best_exact_accuracy,
                "blank_accuracy": self.best_blank_accuracy,
                "step": self.best_step,
            },
            "last_eval": self.last_eval,
            "last_eval_step": self.last_eval_step,
            "elapsed_seconds": self.elapsed_seconds(),
            "model_config": self.model_config.to_dict(),
            "training_config": self.config.to_dict(),
            "dataset_metadata": self.metadata,
        }

    def save_training_state(self) -> None:
        state = self.training_state()  # every process takes part in the gathers
        if self.context.is_main:
            path = self.checkpoint_dir / checkpoints.TRAINING_STATE_FILE
            checkpoints.save_checkpoint(path, state)
            logger.info("Saved training state at step %d to %s", self.step, self.checkpoint_dir)

    def resume_if_possible(self) -> bool:
        """Continue from ``last.pt`` when ``resume: auto`` and it exists; return whether it did."""
        path = self.checkpoint_dir / checkpoints.TRAINING_STATE_FILE
        if self.config.resume != "auto" or not path.is_file():
            return False
        state = checkpoints.load_checkpoint(path, map_location=self.device)
        self._check_resumable(state, path)
        self.model.load_state_dict(state["model_state"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema_state"])
        self.dense_optimizer.load_state_dict(state["dense_optimizer"])
        self.task_optimizer.load_state_dict(state["task_optimizer"])
        rows = slice(
            self.context.rank * self.local_batch_size,
            (self.context.rank + 1) * self.local_batch_size,
        )
        self.carry = ACTCarry(**{k: v[rows].to(self.device) for k, v in state["carry"].items()})
        self.sampler.load_state_dict(state["sampler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"]:
            torch.cuda.set_rng_state_all([value.cpu() for value in rng["cuda"]])
        self.exploration.set_state(rng["exploration"][self.context.rank].cpu())
        random.setstate((3, tuple(rng["python"]), None))
        self.step = int(state["step"])
        self.best_exact_accuracy = float(state["best"]["exact_accuracy"])
        self.best_blank_accuracy = float(state["best"]["blank_accuracy"])
        self.best_step = int(state["best"]["step"])
        self.last_eval = state["last_eval"]
        self.last_eval_step = int(state["last_eval_step"])
        self._elapsed_before = float(state["elapsed_seconds"])
        logger.info("Resumed from %s at step %d of %d", path, self.step, self.total_steps)
        return True

    def _check_resumable(self, state: dict[str, Any], path: Path) -> None:
        check_dataset_metadata(state["dataset_metadata"], self.metadata)
        if state["model_config"] != self.model_config.to_dict():
            changed = sorted(
                key
                for key, value in self.model_config.to_dict().items()
                if state["model_config"].get(key) != value
            )
            raise ValueError(
                f"{path} was written with a different model config (changed: {changed}). "
                "Use another training.checkpoint_dir for a new run, or set "
                "training.resume: never to start over in this folder."
            )

    # the loop

    _elapsed_before = 0.0
    _started_at = 0.0

    def elapsed_seconds(self) -> float:
        """Training wall time, summed over resumed runs."""
        return self._elapsed_before + (time.perf_counter() - self._started_at)

    def _request_stop(self, signum, frame) -> None:
        logger.warning("Interrupt received: saving a checkpoint after the current step.")
        self._interrupted = True

    def _log(self, prefix: str, metrics: dict[str, float]) -> None:
        if self.observer is not None:
            self.observer.log_metrics({f"{prefix}/{k}": v for k, v in metrics.items()}, self.step)

    def train(self) -> TrainingResult:
        """Run (or continue) training to ``total_steps`` and return the best and last models."""
        self.resume_if_possible()
        self._started_at = time.perf_counter()
        previous_handler = signal.signal(signal.SIGINT, self._request_stop)
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not self.context.is_main,
            dynamic_ncols=True,
        )
        try:
            self._run_steps(bar)
        finally:
            bar.close()
            signal.signal(signal.SIGINT, previous_handler)
        if self.last_eval_step != self.step:
            self._log("eval", self.evaluate())
        return self._result()

    def _run_steps(self, bar: tqdm) -> None:
        while self.step < self.total_steps:
            metrics = self.train_step()
            bar.update(1)
            bar.set_postfix(
                loss=f"{metrics['lm_loss']:.3f}",
                acc=f"{metrics['accuracy']:.3f}",
                exact=f"{metrics['exact_accuracy']:.3f}",
                refresh=False,
            )
            if self.step % self.config.log_every == 0 or self.step == 1:
                self._log("train", metrics)
            if self.step % self.eval_every == 0 or self.step == self.total_steps:
                self._log("eval", self.evaluate())
            if self.step % self.config.checkpoint_every == 0 or self.step == self.total_steps:
                self.save_training_state()
            if self._interrupted:
                self.save_training_state()
                raise KeyboardInterrupt(
                    f"Training interrupted at step {self.step}; the state is saved in "
                    f"{self.checkpoint_dir}. Run the same command again to continue."
                )
            stop_after = self.config.stop_after_steps
            if stop_after is not None and self.step >= stop_after:
                self.save_training_state()
                logger.info("Stopping after %d steps (training.stop_after_steps)", self.step)
                break

    def _result(self) -> TrainingResult:
        best_path = self.checkpoint_dir / checkpoints.BEST_MODEL_FILE
        best = checkpoints.load_checkpoint(best_path) if best_path.is_file() else None
        last = self._model_checkpoint(self.evaluation_model(), self.last_eval)
        summary = {
            "steps": self.step,
            "total_steps": self.total_steps,
            "wall_time_seconds": round(self.elapsed_seconds(), 2),
            "device": str(self.device),
            "world_size": self.context.world_size,
            "best_step": self.best_step,
            "best_eval_exact_accuracy": self.best_exact_accuracy,
            "last_eval": self.last_eval,
            "num_parameters": _count(self.model),
        }
        return TrainingResult(best_checkpoint=best or last, last_checkpoint=last, summary=summary)


def _count(model: TinyRecursiveModel) -> int:
    return count_parameters(model)
