"""Multi-process data parallelism under ``torchrun``.

Each process takes a contiguous slice of every global batch; gradients are summed across
processes with an all-reduce after the backward pass (the loss is already divided by the
global batch size), which is the same arithmetic as DistributedDataParallel. Only rank 0
writes checkpoints and logs metrics.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

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


def all_reduce_gradients(parameters, context: DistributedContext) -> None:
    """Sum the gradients of ``parameters`` over all processes."""
    if not context.enabled:
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)


def all_reduce_sums(values: dict[str, torch.Tensor], context: DistributedContext) -> None:
    """Sum metric tensors over all processes, in place."""
    if not context.enabled:
        return
    for value in values.values():
        dist.all_reduce(value, op=dist.ReduceOp.SUM)


def broadcast_module(module: torch.nn.Module, context: DistributedContext) -> None:
    """Copy rank 0's parameters and buffers to every other process."""
    if not context.enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, src=0)
