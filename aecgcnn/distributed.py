"""Data-parallel training on PyTorch's own engine (``torch.distributed``): process group set-up from the
environment ``torchrun`` gives every process, and the few collectives the trainer needs.

``torchrun --nproc-per-node N -m aecgcnn train ...`` starts N processes with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and a rendezvous address in their environment; :func:`init_from_env` joins them into one group
(NCCL between GPUs, gloo on CPU). Every rank trains on its share of each global batch
(:class:`aecgcnn.data.batch.EpochBatches`), DistributedDataParallel averages the gradients, and only rank 0
writes files. Without those variables every function here is the single-process identity, so the same code
runs in one process, in a notebook and under torchrun.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` in ``0..world_size-1``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files, prints and shows progress bars."""
        return self.rank == 0


def context() -> Context:
    """The process group this process belongs to (a one-process context when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                       dist.get_backend())
    return Context()


def launched_by_torchrun() -> bool:
    """Whether the environment asks for more than one process (``WORLD_SIZE`` > 1, set by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def resolve_processes(processes: int | str = 1) -> int:
    """How many data-parallel ranks to start: an int as given, ``"auto"`` one per visible GPU (1 without)."""
    if processes == "auto":
        return max(torch.cuda.device_count(), 1)
    return max(int(processes), 1)


def init_from_env(device: str = "auto") -> Context:
    """Join the process group described by the environment (torchrun's ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) once; a no-op in a single process. Backend: NCCL when the
    run uses CUDA (each rank on GPU ``LOCAL_RANK``), gloo on CPU. Returns :func:`context`."""
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return context()
    cuda = torch.cuda.is_available() and device in ("auto", "cuda") or str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return context()


def shutdown() -> None:
    """Leave the process group (end of a torchrun job). DistributedDataParallel wrappers must be gone by then:
    unreachable ones are collected first, while the group is still registered, because a gloo group destroyed from
    a wrapper's destructor joins its worker thread while holding the GIL that thread may need (a hang at exit)."""
    import gc
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


@contextmanager
def main_first():
    """Run the body on rank 0 first, then on the other ranks: work that fills a shared cache (graph building)
    is done once and read by the others."""
    ctx = context()
    if ctx.active and not ctx.is_main:
        dist.barrier()
    yield
    if ctx.active and ctx.is_main:
        dist.barrier()


def all_gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` in one process)."""
    ctx = context()
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank."""
    if not context().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Elementwise sum of ``t`` over ranks (in place; returned)."""
    if context().active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` inside DistributedDataParallel when several ranks train (rank 0's weights are broadcast at
    construction; gradients are averaged over ranks in backward), else ``model`` itself."""
    if not context().active:
        return model
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    # every rung uses all its parameters on every batch (checked for all presets, with and without charges)
    return DistributedDataParallel(model, device_ids=ids)
