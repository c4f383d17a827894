"""CIFAR-10 (Krizhevsky 2009): 50k train / 10k test, 32x32 colour, 10 classes, from the "python version" tarball
of pickled batches; downloads on request. Read here rather than by torchvision's class, which checks every batch
file against the official md5 and so cannot read the small real-format files the tests write."""

import os
import pickle
import tarfile
import tempfile
from pathlib import Path

import torch

from landmarks.datasets import DatasetSpec, Resource, prepared, register_spec
from landmarks.tasks.image_classification.datasets import DATASETS
from landmarks.tasks.image_classification.datasets.fashion_mnist import DownloadedImages

SPEC = register_spec(
    DatasetSpec(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (Resource("cifar-10-python.tar.gz", ("c58f30108f718f92721af3b95e74349a",)),),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    )
)


def read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one pickled CIFAR-10 batch: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    images = torch.as_tensor(batch[b"data"], dtype=torch.uint8).reshape(-1, 3, 32, 32)
    return images, torch.as_tensor(batch[b"labels"], dtype=torch.int64)


@DATASETS.register("cifar10", config=DownloadedImages)
def load(cfg: DownloadedImages, seed: int) -> dict:
    directory = prepared("cifar10", cfg)
    extracted = directory / "cifar-10-batches-py"
    if not extracted.exists():  # into a temporary folder, renamed whole: no reader sees half the files
        with (
            tempfile.TemporaryDirectory(dir=directory) as partial,
            tarfile.open(directory / SPEC.resources[0].filename) as tar,
        ):
            tar.extractall(partial, filter="data")
            os.replace(Path(partial) / extracted.name, extracted)
    train = [read_cifar_batch(extracted / f"data_batch_{i}") for i in range(1, 6)]
    return {
        "train": (torch.cat([x for x, _ in train]), torch.cat([y for _, y in train])),
        "test": read_cifar_batch(extracted / "test_batch"),
        "classes": list(SPEC.classes),
    }
