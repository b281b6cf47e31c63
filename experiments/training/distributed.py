"""Multi-GPU runs with torchrun + DistributedDataParallel. **UNTESTED**: no machine here has two GPUs.

Usage (same entry point, one process per GPU; torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT)::

    torchrun --standalone --nproc_per_node=4 -m experiments training run --model resnet18 \
        --dataset cifar10 --data-root /data/cifar-10-batches-py --device cuda --epochs 100 \
        --batch-size 128 --out-dir runs/training/resnet18-ddp

What changes when ``WORLD_SIZE > 1`` is found in the environment:

* :func:`info` reports rank/world size and picks ``cuda:LOCAL_RANK`` (backend NCCL; gloo without CUDA);
  the process group is initialised once.
* The model is wrapped in ``DistributedDataParallel`` (:func:`wrap`); gradients are averaged over ranks,
  so ``batch_size`` is the **per-rank** batch (global batch = world_size x batch_size).
* The in-memory loader shards its seeded permutation like ``DistributedSampler``: every rank draws the
  same permutation (same seed), pads it to a multiple of world_size and keeps indices ``rank::world``.
* Only rank 0 writes metrics and checkpoints; every rank evaluates the full test split (cheap), so the
  numbers rank 0 records are the full-test-set numbers. Resume works as on one device (all ranks load the
  same checkpoint) but is not bit-identical across different world sizes.
* L_CS terms (Algorithms 1-2) depend only on the weights, which DDP keeps identical on every rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "info", "wrap"]


@dataclass
class DistInfo:
    enabled: bool = False
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def info() -> DistInfo:
    """Rank information from torchrun's environment variables (initialising the process group once)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
    return DistInfo(True, rank, local, world, f"cuda:{local}" if cuda else "cpu")


def wrap(model: torch.nn.Module, dist_info: DistInfo) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when running distributed, else ``model`` unchanged."""
    if not dist_info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [dist_info.local_rank] if dist_info.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)
