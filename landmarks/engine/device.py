"""The device and the precision a run computes in."""

import contextlib

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
    """ "auto" is bf16 autocast on CUDA and fp32 elsewhere (bf16 matmul is ~100x slower on many CPUs)."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def autocast_context(device: torch.device, precision: str):
    if resolve_precision(device, precision) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
