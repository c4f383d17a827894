"""The device and the precision a run computes in."""

import contextlib
import ctypes
import time

import torch


def pick_device(name: str) -> torch.device:
    """ "auto" picks cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def device_available(name: str) -> bool:
    if name in ("auto", "cpu"):
        return True
    kind, _, index = name.partition(":")
    if kind == "cuda":
        return torch.cuda.is_available() and (not index or index.isdigit() and int(index) < torch.cuda.device_count())
    return kind == "mps" and not index and torch.backends.mps.is_available()


def resolve_precision(device: torch.device, precision: str) -> str:
    """ "auto" is bf16 autocast on GPUs with bf16 tensor cores (compute capability 8.0 on: A100, H100, RTX 30 on)
    and fp32 elsewhere: on older GPUs (T4, V100) bf16 is emulated, and bf16 matmul is ~100x slower on many CPUs."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 0) else "fp32"
    return precision


def configure(device: torch.device, precision: str) -> None:
    """The device's fast paths. On the host, freed memory kept for reuse (`keep_freed_memory`); on a GPU, cuDNN
    picks the fastest convolution for each shape (only convolutions use it), and fp32 matmuls run on TF32 tensor
    cores (torch.set_float32_matmul_precision("high"))."""
    keep_freed_memory()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        if resolve_precision(device, precision) == "fp32":
            torch.set_float32_matmul_precision("high")


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc's malloc.h)


def keep_freed_memory() -> None:
    """glibc's malloc gives large freed blocks back to the operating system (a block over its threshold is a mapping
    of its own, and the heap's free top is trimmed), so that every step's activations are fresh pages that fault in
    again: allocating and freeing eight 1 MB tensors faults 1,760-2,016 of their 2,048 pages in again each time, none
    once freed memory is kept (tests/engine/test_host_memory.py). As PyTorch's CPU tuning guide does with jemalloc
    or TCMalloc, keep it: blocks up to 32 MB (glibc's largest threshold) come from the heap, which is never
    trimmed (the process holds on to its peak, as PyTorch's GPU caching allocator does). 5-20% off the CPU
    speedruns' steps (docs/speedruns.md). Where the C library is not glibc (macOS, musl), nothing changes."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
    libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)


def rng_state(device: torch.device) -> dict:
    """The random state of the host and of `device` (its own index: cuda:1's, not the current device's)."""
    state = {"torch": torch.get_rng_state(), "cuda": None, "mps": None}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    elif device.type == "mps" and state.get("mps") is not None:
        torch.mps.set_rng_state(state["mps"])


def autocast_context(device: torch.device, precision: str):
    if resolve_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronized_time(device: torch.device) -> float:
    """The host clock once the device has done the work queued so far."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
    return time.perf_counter()
