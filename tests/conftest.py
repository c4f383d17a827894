"""Shared fixtures: tiny datasets written in the real on-disk formats, and configs composed as train.py does."""

import gzip
import struct
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from landmarks import datasets

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")


def write_idx(path: Path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor as a gzipped IDX file (magic 0x0000 08 ndim, big-endian sizes, raw bytes)."""
    header = bytes([0, 0, 0x08, tensor.ndim]) + struct.pack(f">{tensor.ndim}I", *tensor.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + tensor.contiguous().numpy().tobytes())


@pytest.fixture
def tiny_fashion_mnist(tmp_path, monkeypatch) -> Path:
    """The first 640 training and 128 test images of the real Fashion-MNIST, written as IDX files whose
    checksums the dataset spec is patched to accept."""
    real = datasets.load_arrays("fashion_mnist")
    sizes = {"train": 640, "t10k": 128}
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images, labels = real[split]
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images[: sizes[prefix], 0])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels[: sizes[prefix]].to(torch.uint8))
    spec = datasets.SPECS["fashion_mnist"]
    resources = tuple(
        datasets.Resource(r.filename, (datasets.file_hash(tmp_path / r.filename),)) for r in spec.resources
    )
    monkeypatch.setitem(
        datasets.SPECS, "fashion_mnist", datasets.DatasetSpec(spec.name, spec.urls, resources, spec.classes)
    )
    return tmp_path


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def tiny_run_overrides(data_root: Path, *extra: str) -> list[str]:
    """A run of a few steps of a slim speedrun ResNet (or the model that `extra` picks) on the tiny dataset."""
    resnet_sizes = [] if any(o.startswith("model=") for o in extra) else ["model.widths=[8,16,32]"]
    return [
        f"data.root={data_root}",
        "data.val_size=128",
        *resnet_sizes,
        "trainer.batch_size=32",
        "trainer.epochs=1",
        "trainer.log_every=2",
        "trainer.eval_every=4",
        "trainer.ckpt_every=4",
        "trainer.progress=false",
        *extra,
    ]
