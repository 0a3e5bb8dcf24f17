"""Data parallelism under ``torchrun``: the process group, this process's rank, shards of a global batch.

``torchrun --nproc_per_node N -m latentdirs train-vae …`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in their environment (:func:`environment_world`). A trainer calls :func:`setup` with its device:
when ``WORLD_SIZE`` > 1 it joins the process group (``gloo`` on the CPU, ``nccl`` on CUDA, where each process
takes ``cuda:LOCAL_RANK``), waits for every rank, and registers :func:`teardown` for the end of the process.
Outside torchrun (or with one process) nothing is set up and every helper here is the identity, so a
single-process run computes exactly what it did before.

How the trainers use it (the same scheme in ``train-vae``, ``train-gan`` and ``discover``):

- every rank draws the whole global batch's random numbers from the run's seeded streams (the streams stay
  the same for any N, so the data order and the noise do not depend on N) and keeps its own rows
  (:meth:`World.rows`: rank r holds rows ``[r·B/N, (r+1)·B/N)``); a batch size that N does not divide is one
  ``error:`` line;
- outputs needed by batch-level terms are all-gathered with autograd (:meth:`World.gather`, built on
  ``torch.distributed.nn.functional.all_gather``, whose backward sums the gradients of all ranks), so a term
  computed identically on every rank from the gathered global batch has, after the gradient average over
  ranks (DDP's, or :meth:`World.average_`), exactly the gradient of one process at the same global batch: the
  gather's backward hands rank r N·∂L/∂(its rows), the average divides by N, and the term's direct gradients
  (replicated on every rank) average to themselves;
- only rank 0 (:attr:`World.is_main`) writes files; a checkpoint holds the global state (weights, optimizers,
  the global random streams), identical on every rank, so a run resumes under any N.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .errors import UserError

ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place among the ``size`` processes of a run (``size`` 1: a plain single-process run)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs, pictures and reports, and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def rows(self, batch: int, what: str = "--batch-size") -> slice:
        """This rank's rows of a global batch of ``batch`` samples; a UserError when N does not divide it."""
        if batch % self.size:
            raise UserError(f"{what} {batch} is not divisible by the {self.size} torchrun processes "
                            f"(WORLD_SIZE={self.size}); it is the global batch, split evenly over the processes")
        share = batch // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def grouped_rows(self, batch: int, group: int, what: str = "--batch") -> torch.Tensor:
        """This rank's rows of a global batch whose sample i belongs to group ``i mod (batch/group)`` (StyleGAN2's
        minibatch-std layer): whole groups, ordered so that the rank's own rows form the same groups under the
        same rule; a UserError when N does not divide the number of groups."""
        columns = batch // group
        if batch % group or columns % self.size:
            raise UserError(f"{what} {batch} makes {columns} minibatch-std groups of {group}, not divisible by the "
                            f"{self.size} torchrun processes; each process takes whole groups")
        share = columns // self.size
        mine = torch.arange(self.rank * share, (self.rank + 1) * share)
        return (torch.arange(group)[:, None] * columns + mine[None, :]).reshape(-1)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """The rows of every rank, concatenated in rank order (``[N·n, …]`` from ``[n, …]``), differentiable: the
        backward sums the gradients all ranks pass back for this rank's rows (a no-op for one process)."""
        if not self.distributed:
            return tensor
        from torch.distributed.nn.functional import all_gather

        with _quiet_deprecation():
            return torch.cat(all_gather(tensor.contiguous()), dim=0)

    def gather_detached(self, tensor: torch.Tensor) -> torch.Tensor:
        """As :meth:`gather`, without gradient (inputs, images of a frozen generator)."""
        if not self.distributed:
            return tensor
        import torch.distributed as dist

        parts = [torch.empty_like(tensor) for _ in range(self.size)]
        dist.all_gather(parts, tensor.detach().contiguous())
        return torch.cat(parts, dim=0)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean over ranks of a per-rank value, differentiable (each rank's value: the mean of its equal
        share of the batch, so this is the global batch's mean)."""
        if not self.distributed:
            return value
        from torch.distributed.nn.functional import all_reduce

        with _quiet_deprecation():
            return all_reduce(value.clone()) / self.size

    def average_(self, tensors: Iterable[torch.Tensor | None]) -> None:
        """Replace each tensor by its mean over ranks, in place (gradients: one flat all-reduce)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        present = [t for t in tensors if t is not None]
        if not present:
            return
        flat = torch.cat([t.reshape(-1) for t in present])
        dist.all_reduce(flat)
        flat /= self.size
        for tensor, part in zip(present, flat.split([t.numel() for t in present]), strict=True):
            tensor.copy_(part.view_as(tensor))

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on some rank (a Ctrl-C seen by one process stops all at the same step)."""
        if not self.distributed:
            return flag
        import torch.distributed as dist

        value = torch.tensor([int(flag)], device=_collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            device = _collective_device()
            if device.type == "cuda":
                dist.barrier(device_ids=[device.index])
            else:
                dist.barrier()


@dataclass(frozen=True)
class RowDraws:
    """Standard normal draws for a global batch of ``total`` rows of which this process keeps ``rows``: each draw
    takes the whole ``[total, …]`` tensor from ``generator`` (the stream advances as in one process, whatever
    N) and returns this process's rows. Passed where a ``torch.Generator`` is accepted for per-sample noise."""

    generator: torch.Generator
    total: int
    rows: torch.Tensor

    def randn(self, shape: list[int] | tuple[int, ...] | torch.Size) -> torch.Tensor:
        """``shape[0]`` (this process's rows) of a ``[total, *shape[1:]]`` draw, on the generator's device."""
        if shape[0] != len(self.rows):
            raise ValueError(f"a draw of {shape[0]} rows for a process that holds {len(self.rows)}")
        full = torch.randn([self.total, *shape[1:]], generator=self.generator, device=self.generator.device)
        return full[self.rows.to(full.device)]



def environment_world() -> World:
    """The world torchrun describes in this process's environment (a single process when it describes none)."""
    values = [os.environ.get(name) for name in ENVIRONMENT]
    if values[1] is None:
        return World()
    try:
        rank, size, local_rank = (int(value) if value is not None else 0 for value in values)
    except ValueError:
        raise UserError(f"torchrun environment {dict(zip(ENVIRONMENT, values, strict=True))} is not numeric") from None
    if size < 1 or not 0 <= rank < size:
        raise UserError(f"torchrun environment has RANK={rank} outside WORLD_SIZE={size}")
    return World(rank, size, local_rank)


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the torchrun process group (once per process) and return ``(world, this rank's device)``.

    ``nccl`` when ``device`` is CUDA (each rank on ``cuda:LOCAL_RANK``), else ``gloo``. One process: nothing is
    done and ``device`` is returned as given.
    """
    world = environment_world()
    if not world.distributed:
        return world, device
    import torch.distributed as dist

    device = local_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():  # a second trainer in the same process
        if (dist.get_backend() == "nccl") != (device.type == "cuda"):
            raise UserError(f"torchrun: the process group uses {dist.get_backend()}, not suited to {device}")
        return world, device
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=world.rank, world_size=world.size,
                            device_id=device if device.type == "cuda" else None)
    atexit.register(teardown)
    world.barrier()  # every rank has checked its options and output folder before rank 0 writes there
    return world, device


def local_device(device: torch.device) -> torch.device:
    """This process's device: under torchrun with several processes a CUDA device is ``cuda:LOCAL_RANK`` (one GPU
    per process; another explicit index is a UserError); any other device, and any device outside torchrun, as
    given."""
    world = environment_world()
    if not world.distributed or device.type != "cuda":
        return device
    if device.index is not None and device.index != world.local_rank:
        raise UserError(f"--device {device} under torchrun: each process uses cuda:LOCAL_RANK; "
                        "pass --device cuda (or auto)")
    return torch.device("cuda", world.local_rank)


def teardown() -> None:
    """Leave the process group (registered by :func:`setup` for the end of the process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """Whether this process prints and writes: always outside torchrun, rank 0 under it."""
    return environment_world().is_main


def _collective_device() -> torch.device:
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def wrap_data_parallel(module: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """``module`` in :class:`torch.nn.parallel.DistributedDataParallel` (gradients averaged over ranks in the
    backward pass; rank 0's parameters broadcast at the start); ``module`` itself for one process."""
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


@contextlib.contextmanager
def _quiet_deprecation():
    """torch 2.14 marks ``torch.distributed.nn.functional`` deprecated for its private ``_functional_collectives``;
    the public autograd-aware collectives still work (and are what torch ≥ 2.10 offers), so their FutureWarning is
    not shown on every step."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.", category=FutureWarning)
        yield
