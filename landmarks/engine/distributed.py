"""Data parallelism on PyTorch's own engine: under `torchrun` every process joins a process group (NCCL with
one GPU per process, gloo on CPU), trains a DistributedDataParallel replica on its shard of each global
batch, and only rank 0 evaluates, logs and writes checkpoints. Without torchrun all of this is a no-op.

The global batch is trainer.batch_size whatever the number of processes, so a recipe's learning rate holds
as it scales out; each process computes batch_size / world_size samples per step.
"""

import contextlib
import datetime
import os

import torch
import torch.distributed as dist


def launched() -> bool:
    """True in a process started by torchrun (which sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT)."""
    return "WORLD_SIZE" in os.environ


def setup(device: torch.device) -> torch.device:
    """Join the process group if launched by torchrun; return this process's device."""
    if not launched() or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    # rank 0 evaluates alone at the end (beam search may take minutes) while the others wait
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=2))
    return device


@contextlib.contextmanager
def local_main_first():
    """The first process of each machine (LOCAL_RANK 0) runs the block first, the others after it: a download,
    an extraction or a tokenizer written to a shared cache is prepared once, then read by the rest."""
    first = int(os.environ.get("LOCAL_RANK", 0)) == 0
    if not first and dist.is_initialized():
        dist.barrier()
    yield
    if first and dist.is_initialized():
        dist.barrier()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def check_on_device(values: dict[str, torch.Tensor], device: torch.device) -> None:
    """Raise ValueError unless every value is a tensor on `device`: NCCL reduces CUDA tensors only, and a
    collective over tensors of two devices fails (checked in one process too, so that CPU tests catch it)."""
    for name, value in values.items():
        on = value.device if isinstance(value, torch.Tensor) else None
        if on is None or on.type != device.type or None not in (on.index, device.index) and on.index != device.index:
            where = on or f"the host ({type(value).__name__})"
            raise ValueError(f"{name} is on {where}, not on the run's device {device}: a collective would fail")


def mean_over_processes(values: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The mean of each scalar over all processes (identity in one process); every value a tensor on `device`."""
    check_on_device(values, torch.device(device))
    if world_size() == 1 or not values:
        return values
    stacked = torch.stack([value.float() for value in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / world_size()))


def sum_over_processes(value: torch.Tensor) -> torch.Tensor:
    """The sum of a count (a tensor on the run's device) over all processes (identity in one process)."""
    if world_size() == 1:
        return value
    total = value.float().clone()
    dist.all_reduce(total)
    return total


def seed_process(seed: int) -> None:
    """Dropout draws from the global generator. After the weights are built (the same in every process), each
    process under torchrun reseeds it with (seed, rank), so that ranks drop different units, deterministically;
    rank 0, like a single process, keeps the seed's own stream."""
    if rank():
        torch.manual_seed(seed + 1_000_003 * rank())


def gather(value) -> list:
    """Every process's `value` (any picklable object), in rank order, in every process."""
    if world_size() == 1:
        return [value]
    gathered = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def any_process(flag: bool, device: torch.device) -> bool:
    """True if `flag` is true in any process (identity in one process): processes stop together."""
    if world_size() == 1:
        return flag
    tensor = torch.tensor([float(flag)], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def broadcast(value, device: torch.device):
    """Rank 0's `value` (any picklable object) in every process."""
    if world_size() == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0, device=device)
    return holder[0]


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
