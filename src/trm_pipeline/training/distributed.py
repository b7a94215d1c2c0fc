"""Multi-process data parallelism under ``torchrun``.

Each process takes a contiguous slice of every global batch and runs the model through
``DistributedDataParallel``, which averages gradients over processes. Each process divides its
summed loss by its local batch size, so the average equals the single-process gradient of the
global batch. Only rank 0 writes checkpoints and logs metrics.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Uses NCCL on CUDA and gloo otherwise. Without ``WORLD_SIZE`` > 1 this is a no-op.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        logger.info("Joined process group: rank %d of %d (%s)", rank, world_size, backend)
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def wrap_data_parallel(model: torch.nn.Module, context: DistributedContext) -> torch.nn.Module:
    """Return ``model`` wrapped in ``DistributedDataParallel`` when several processes run.

    The wrapper copies rank 0's parameters and buffers to every process when it is built, and
    averages gradients over processes during the backward pass. Single-process runs get
    ``model`` back unchanged.
    """
    if not context.enabled:
        return model
    device_ids = [context.local_rank] if next(model.parameters()).is_cuda else None
    return DistributedDataParallel(model, device_ids=device_ids)


def all_reduce_sums(values: dict[str, torch.Tensor], context: DistributedContext) -> None:
    """Sum metric tensors over all processes, in place."""
    if not context.enabled:
        return
    for value in values.values():
        dist.all_reduce(value, op=dist.ReduceOp.SUM)


def finish_distributed(context: DistributedContext) -> None:
    """Leave the process group after training. Single-process runs have none to leave."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
