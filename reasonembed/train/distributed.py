"""torch.distributed helpers: process group from torchrun's environment, and a gather that keeps
the gradient of the local shard.

Under `torchrun`, every rank computes the loss of the whole global batch from gathered
embeddings; only its own shard carries gradients, so summing parameter gradients over ranks
(`all_reduce_gradients`) gives exactly the gradient of the global loss.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device | None = None) -> DistContext:
    """Join the process group torchrun describes (WORLD_SIZE > 1); gloo on CPU, NCCL on CUDA."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        on_cuda = (device is None and torch.cuda.is_available()) or (
            device is not None and device.type == "cuda"
        )
        if on_cuda:  # NCCL wants each process bound to its own GPU before the first collective
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    context = DistContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    logger.info("distributed: rank %d of %d", context.rank, context.world_size)
    return context


def process_group_rank() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) without one."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every rank in rank order ([world * n, ...]).

    all_gather returns copies without autograd history; the local slot is replaced by `tensor`
    itself so the local shard keeps its gradient. Identity when not distributed.
    """
    rank, world_size = process_group_rank()
    if world_size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(parts, tensor.detach().contiguous())
    parts[rank] = tensor
    return torch.cat(parts, dim=0)


def all_reduce_gradients(parameters) -> None:
    """Sum the gradients of `parameters` over ranks (no-op when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
    if not grads:
        return
    flat = torch.cat([grad.reshape(-1) for grad in grads])  # one collective, not one per tensor
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
