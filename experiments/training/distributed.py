"""Data-parallel training with torchrun + DistributedDataParallel (DDP): one process per device, the same
entry point as a single run. Tested on CPU with the gloo backend (``tests/test_distributed.py``: 2 ranks,
killed and resumed, equal to a single-process run to float64 rounding); on GPUs the backend is NCCL (not run
on several GPUs here).

Usage (torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT)::

    torchrun --standalone --nproc_per_node 4 -m experiments training run --model resnet18 \\
        --dataset cifar10 --data-root /data/cifar-10-batches-py --device cuda --epochs 100 \\
        --batch-size 128 --out-dir runs/training/resnet18-ddp
    torchrun --standalone --nproc_per_node 2 -m experiments training run ... --device cpu --threads 1   # gloo

A DDP run is the single-process run with the same config, up to float rounding — so ``batch_size`` and
every other field mean what they mean on one device, and a result's identity does not include the world
size (it is recorded in the result's ``environment``). What changes when ``WORLD_SIZE > 1``:

* :func:`info` reads the rank and world size, initialises the process group once (NCCL for ``--device
  cuda``, each rank on ``cuda:LOCAL_RANK``; gloo for ``--device cpu``).
* **Data**: ``batch_size`` is the **global** batch. Every rank draws the same seeded permutation (and the
  same augmentation of the whole global batch) as a single process would, and keeps its contiguous share
  of each global batch (:class:`ShardedLoader`; shares differ by at most one image). A global batch smaller
  than the world size (a last batch of 1 to world-1 images) is skipped by every rank: a warning says so.
* **Gradients**: DDP averages them over ranks; each rank's task loss is weighted by
  ``world * local_batch / global_batch`` so the average is the gradient of the global-batch mean also
  when shares differ. Extra terms are averaged over ranks: those of the weights only (CS Algorithm 2's
  L_CS) are exact; batch-statistic terms (MFD's Pearson matrices, POD's SC loss) are each rank's share's.
* **BatchNorm**: synchronised. Every BatchNorm layer computes its batch mean and variance over the global
  batch (:class:`DistBatchNorm2d`, two all-reduces forward and two backward per layer, on a process group
  of its own), so normalisation, gradients and running statistics are those of the single-process run and
  identical on every rank. (``torch.nn.SyncBatchNorm`` does the same on GPUs only; this one runs on gloo
  too, which is what lets the CPU test compare against a single process.)
* **Logs**: per-step task loss, extra loss and batch accuracy, and so the per-epoch train loss / accuracy,
  are all-reduced over ranks (one small all-reduce per step), so rank 0 records global-batch numbers.
  A non-finite loss on any rank stops every rank (``diverged``).
* **Files**: only rank 0 writes (config, metrics, checkpoints, result); every rank evaluates the whole
  test split (identical weights and statistics, so identical numbers). Resume: every rank loads the same
  checkpoint, then a barrier, then rank 0 writes again; the data order and augmentation continue where
  they stopped (the loader's state is the single-process one, so a run could also resume under another
  world size or on one process: not tested).
* The Algorithm-1 initialisation (weights only) runs on every rank, then rank 0's weights are broadcast.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch

__all__ = ["DistInfo", "info", "wrap", "convert_batchnorm", "DistBatchNorm2d", "ShardedLoader", "shard_loader",
           "step_stats", "barrier", "broadcast_state"]

_BN_GROUP = None                  # the process group of the BatchNorm all-reduces (set by info())


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


def info(device: str = "cpu") -> DistInfo:
    """Rank information from torchrun's environment variables (initialising the process group once).

    ``device``: the config's; ``cuda`` (or ``cuda:N``) puts each rank on ``cuda:LOCAL_RANK`` with NCCL,
    anything else on the CPU with gloo. Without ``WORLD_SIZE > 1``: a disabled :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=str(device))
    import torch.distributed as dist

    global _BN_GROUP
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        atexit.register(_destroy)
    if _BN_GROUP is None:
        _BN_GROUP = dist.new_group(backend="nccl" if cuda else "gloo")
    return DistInfo(True, rank, local, world, f"cuda:{local}" if cuda else "cpu")


def _destroy():
    global _BN_GROUP
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    _BN_GROUP = None


def barrier(dist_info: DistInfo) -> None:
    """Wait for every rank (no-op on one process)."""
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()


def broadcast_state(module: torch.nn.Module, dist_info: DistInfo) -> None:
    """Every parameter and buffer of ``module`` set to rank 0's (no-op on one process)."""
    if not dist_info.enabled:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, 0)


# ------------------------------------------------------------------------------------ BatchNorm

class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: forward all-reduces the tensor, backward all-reduces its gradient
    (each rank's output depends on every rank's input)."""

    @staticmethod
    def forward(ctx, x):
        import torch.distributed as dist

        y = x.clone()
        dist.all_reduce(y, group=_BN_GROUP)
        return y

    @staticmethod
    def backward(ctx, g):
        import torch.distributed as dist

        g = g.clone()
        dist.all_reduce(g, group=_BN_GROUP)
        return g


class DistBatchNorm2d(torch.nn.BatchNorm2d):
    """``BatchNorm2d`` whose training-mode statistics are those of the global batch (all ranks).

    Same parameters, buffers and state-dict keys as ``BatchNorm2d`` (checkpoints are interchangeable);
    eval mode, and a single process, are plain ``BatchNorm2d``. Statistics in float32 (or float64) whatever
    the activations' dtype; mean first, then the centred sum of squares (two passes, as stable as one
    process); running variance with the unbiased global count ``N / (N - 1)``.
    """

    def forward(self, x):
        if not (self.training and _BN_GROUP is not None):
            return super().forward(x)
        self._check_input_dim(x)
        xs = x if x.dtype in (torch.float32, torch.float64) else x.float()
        dims = [0, 2, 3]
        shape = (1, -1, 1, 1)
        local = torch.cat([xs.sum(dims), xs.new_tensor([x.numel() // x.shape[1]])])
        total = _AllReduceSum.apply(local)
        n = total[-1]
        mean = total[:-1] / n
        d = xs - mean.view(shape)
        var = _AllReduceSum.apply((d * d).sum(dims)) / n
        y = d * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                nn_ = float(n)
                unbiased = var.detach() * (nn_ / max(nn_ - 1.0, 1.0))
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        return y.to(x.dtype)


def wrap(model: torch.nn.Module, dist_info: DistInfo) -> torch.nn.Module:
    """Running distributed: ``model``'s BatchNorm2d layers made :class:`DistBatchNorm2d` (in place: the same
    parameters, so an optimiser built on ``model`` is unaffected) and ``DistributedDataParallel(model)``
    returned. One process: ``model`` unchanged."""
    if not dist_info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    convert_batchnorm(model)
    ids = [dist_info.local_rank] if dist_info.device.startswith("cuda") else None
    # gradients as views of DDP's buckets: no copy, and no stride-mismatch warning for channels_last weights
    return DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)


def convert_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Every ``BatchNorm2d`` of ``model`` made a :class:`DistBatchNorm2d`, in place (same parameters and
    buffers); returns ``model``."""
    for m in model.modules():
        if type(m) is torch.nn.BatchNorm2d:
            m.__class__ = DistBatchNorm2d
    return model


# ------------------------------------------------------------------------------------------ data

class ShardedLoader:
    """This rank's contiguous share of every global batch of ``loader`` (a
    :class:`~experiments.training.data.TensorLoader` drawing the single-process batches: same permutation,
    same augmentation, same generator state, which :meth:`state_dict` saves).

    ``share`` after each batch: ``world * local_batch / global_batch`` (the task-loss weight that makes
    DDP's gradient average the global-batch mean). Global batches smaller than the world size are skipped.
    """

    def __init__(self, loader, rank: int, world: int):
        self.loader, self.rank, self.world = loader, int(rank), int(world)
        self.share = 1.0
        self.skipped = 0

    def __len__(self):
        n, b = len(self.loader.data), self.loader.batch_size
        last = n % b
        return len(self.loader) - (1 if 0 < last < self.world and not self.loader.drop_last else 0)

    def __iter__(self):
        for x, y in self.loader:
            m = int(y.shape[0])
            if m < self.world:
                self.skipped += m
                continue
            xs, ys = x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]
            self.share = self.world * int(ys.shape[0]) / m
            yield xs, ys

    def state_dict(self) -> dict:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state)

    def __getattr__(self, name):                  # data, batch_size, ... of the global loader
        return getattr(self.__dict__["loader"], name)


def shard_loader(loader, dist_info: DistInfo):
    """``loader`` itself on one process, else this rank's :class:`ShardedLoader` of it."""
    if not dist_info.enabled:
        return loader
    last = len(loader.data) % loader.batch_size
    if 0 < last < dist_info.world_size and not loader.drop_last and dist_info.is_main:
        print(f"warning: the last batch of each epoch ({last} of {len(loader.data)} images) is smaller than the "
              f"world size {dist_info.world_size} and is skipped; a single process would train on it", flush=True)
    return ShardedLoader(loader, dist_info.rank, dist_info.world_size)


def step_stats(dist_info: DistInfo, task: float, extra: float, correct: int, b: int, finite: bool):
    """``(task, extra, correct, b, finite)`` of the global batch: batch-weighted means of the ranks' task and
    extra losses, summed counts, and whether every rank's loss is finite (one all-reduce)."""
    import torch.distributed as dist

    dev = torch.device(dist_info.device)
    v = torch.tensor([task * b, extra * b, float(correct), float(b), 0.0 if finite else 1.0], dtype=torch.float64,
                     device=dev)
    if not finite:
        v[:2] = 0.0
    dist.all_reduce(v)
    t, e, c, n, bad = v.tolist()
    return t / n, e / n, int(round(c)), int(round(n)), bad == 0
