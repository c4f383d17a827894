"""LeCun's IDX format of MNIST and Fashion-MNIST: four gzipped files of unsigned bytes a dataset."""

import functools
import gzip
import struct
from pathlib import Path

import torch

from landmarks.datasets import DatasetError, Resource


def idx_resources(digests: dict[str, tuple[str, ...]]) -> tuple[Resource, ...]:
    """The four files, each with its accepted digests."""
    return tuple(Resource(f"{name}-ubyte.gz", digests[name]) for name in IDX_FILES)


IDX_FILES = ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (optionally gzipped) of unsigned bytes into a uint8 tensor: decoded once a process for a
    file as it stands (its size and time of change), a copy each call (a claim's runs, the tests, read it often)."""
    stat = path.stat()
    return decoded_idx(path, stat.st_size, stat.st_mtime_ns).clone()


@functools.lru_cache(maxsize=8)
def decoded_idx(path: Path, size: int, changed_ns: int) -> torch.Tensor:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4].hex()}, expected 000008xx)")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != torch.Size(shape).numel():
        raise DatasetError(f"{path}: header says shape {shape} but holds {len(body)} bytes; the file is truncated")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def load_idx_dataset(directory: Path, classes: tuple[str, ...]) -> dict:
    """The train and test splits of the four files in `directory`, images (N, 1, 28, 28)."""

    def pair(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        images = read_idx(directory / f"{prefix}-images-idx3-ubyte.gz").unsqueeze(1)
        return images, read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz").long()

    return {"train": pair("train"), "test": pair("t10k"), "classes": list(classes)}
