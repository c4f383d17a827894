"""Shared fixtures: tiny datasets written in the real on-disk formats, and configs composed as train.py does."""

import functools
import gzip
import http.server
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from landmarks.models import create_model
from PIL import Image

from landmarks import datasets
from landmarks.config import validate
from landmarks.engine.loop import fit
from landmarks.launch import compose_run
from landmarks.tasks.base import Task
from landmarks.tasks.image_classification.datasets import DATASETS as IMAGE_DATASETS
from landmarks.tasks.image_classification.datasets.fashion_mnist import DownloadedImages
from landmarks.tasks.translation.datasets import DATASETS as TRANSLATION_DATASETS

IMAGE_DATASETS.names(), TRANSLATION_DATASETS.names()  # every dataset registers its files in datasets.SPECS
REPO = Path(__file__).resolve().parents[1]
CONFIGS = str(REPO / "configs")


def pytest_collection_modifyitems(items) -> None:
    """Mark every test that starts Python processes `subprocess`, read from its source, so that a new one is
    marked too: `pytest -m "not slow and not subprocess"` is the quick subset for local iteration."""
    import inspect

    for item in items:
        source = inspect.getsource(item.function) if hasattr(item, "function") else ""
        if any(call in source for call in ("subprocess.", "mp.spawn", "start_and_wait", "cli(")):
            item.add_marker(pytest.mark.subprocess)


if os.environ.get("PYTEST_XDIST_WORKER"):  # README's `pytest -n 2`: one thread per worker, not two competing
    torch.set_num_threads(1)


def write_idx(path: Path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor as a gzipped IDX file (magic 0x0000 08 ndim, big-endian sizes, raw bytes)."""
    header = bytes([0, 0, 0x08, tensor.ndim]) + struct.pack(f">{tensor.ndim}I", *tensor.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + tensor.contiguous().numpy().tobytes())


@pytest.fixture
def tiny_fashion_mnist(tmp_path, monkeypatch) -> Path:
    """The first 640 training and 128 test images of the real Fashion-MNIST, written as IDX files whose
    checksums the dataset spec is patched to accept."""
    real = shipped_fashion_mnist()
    sizes = {"train": 640, "t10k": 128}
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images, labels = real[split]
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images[: sizes[prefix], 0])
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels[: sizes[prefix]].to(torch.uint8))
    patch_spec(monkeypatch, "fashion_mnist", tmp_path)
    return tmp_path


@functools.cache
def shipped_fashion_mnist() -> dict:
    """The shipped Fashion-MNIST, decoded and checksummed once per test process, not once per test."""
    return image_arrays("fashion_mnist")


def image_arrays(name: str, root: str | None = None, download: bool = False) -> dict:
    """A downloadable image dataset's splits, read through its registered loader."""
    return IMAGE_DATASETS[name](DownloadedImages(name=name, source=name, root=root, download=download), 0)


def patch_spec(monkeypatch, name: str, directory: Path, urls: tuple[str, ...] | None = None, algorithm="md5") -> None:
    """Make dataset `name` accept the files written in `directory` (their checksums), served from `urls`."""
    spec = datasets.SPECS[name]
    digests = [(datasets.file_hash(directory / r.filename, algorithm),) for r in spec.resources]
    resources = tuple(datasets.Resource(r.filename, d) for r, d in zip(spec.resources, digests))
    monkeypatch.setitem(datasets.SPECS, name, datasets.DatasetSpec(name, urls or spec.urls, resources, spec.classes))


class QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server(tmp_path) -> Iterator[str]:
    """A local HTTP server of tmp_path (a dataset mirror as the downloader meets it): its base URL."""
    handler = functools.partial(QuietFileHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}/"
        server.shutdown()


def write_mnist_format(directory: Path, train: int, test: int, seed: int = 0) -> None:
    """Random 28x28 images and labels as the four gzipped IDX files of MNIST and Fashion-MNIST."""
    generator = torch.Generator().manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", torch.arange(n, dtype=torch.uint8) % 10)


def write_cifar10_format(directory: Path, per_batch: int, seed: int = 0) -> dict:
    """CIFAR-10's "python version" tarball: five training batches and a test batch of pickled 32x32x3 rows.
    Returns each batch's (data, labels)."""
    generator = torch.Generator().manual_seed(seed)
    written, members = {}, []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = torch.randint(0, 256, (per_batch, 3072), dtype=torch.uint8, generator=generator)
        labels = (torch.arange(per_batch) % 10).tolist()
        written[name] = (data, labels)
        payload = pickle.dumps({b"data": data.numpy(), b"labels": labels, b"batch_label": name.encode()})
        members.append((f"cifar-10-batches-py/{name}", payload))
    directory.mkdir(parents=True, exist_ok=True)
    write_tarball(directory / "cifar-10-python.tar.gz", dict(members))
    return written


def write_tarball(path: Path, files: dict[str, str | bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            payload = content.encode("utf-8") if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def write_tsv(path: Path, pairs: int) -> Path:
    """A Tatoeba-style file: source, target and an attribution column."""
    lines = [f"Sentence number {i} is here.\tSatz Nummer {i} ist hier.\tCC-BY 2.0 (France)\n" for i in range(pairs)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def write_images(root: Path, classes=("circle", "square", "stripes"), per_class: int = 24) -> Path:
    """Class-dependent pictures of varying sizes, as PNG and JPEG files."""
    generator = torch.Generator().manual_seed(0)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            side = 40 + 8 * (i % 3)
            image = torch.randint(0, 60, (3, side, side + 6), generator=generator, dtype=torch.uint8)
            image[index, side // 4 : 3 * side // 4] += 150  # a band of the class's own colour
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def write_text(path: Path, sentences: int = 400) -> Path:
    """A small UTF-8 corpus with some structure to learn."""
    lines = [f"The {('red', 'blue', 'old')[i % 3]} ship number {i % 17} sails at dawn.\n" for i in range(sentences)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def write_labelled(path: Path, count: int = 60) -> Path:
    """Lines whose label is in their words: a tiny model can learn it."""
    lines = [f"the {('red', 'blue')[i % 2]} ship number {i} sails\t{('warm', 'cold')[i % 2]}\n" for i in range(count)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def fit_config(cfg, model, task, run_dir: Path, **kwargs) -> dict:
    """The loop on a composed config, with its typed parts as train.py passes them."""
    run = validate(cfg)
    return fit(
        model, task, run.trainer, run.optim, run_dir=run_dir, device=torch.device("cpu"), config=run.resolved, **kwargs
    )


def cli(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python <script> <args>` (train.py, eval.py) run from the repository as a user runs it, its output kept."""
    command = [sys.executable, script, *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def compose_config(*overrides: str):
    return compose_run(list(overrides))


def tiny_run_overrides(data_root: Path, *extra: str) -> list[str]:
    """A run of a few steps of a slim speedrun ResNet (or the model that `extra` picks) on the tiny dataset."""
    resnet_sizes = [] if any(o.startswith("model=") for o in extra) else ["model.widths=[8,16,32]"]
    return [
        f"data.root={data_root}",
        "data.val_size=128",
        *resnet_sizes,
        "trainer.batch_size=32",
        "trainer.epochs=1",
        "trainer.steps_floor=null",  # one epoch of the tiny data, not the generic floor's 100 steps
        "trainer.log_every=2",
        "trainer.eval_every=4",
        "trainer.ckpt_every=4",
        "trainer.progress=false",
        *extra,
    ]


class RegressionTask(Task):
    """A task with no images: the loop must not care what a batch is."""

    @classmethod
    def from_config(cls, data, *, trainer, seed, device):
        return cls()

    def model_kwargs(self):
        return {}

    steps_per_epoch = 3
    eval_metrics = {"loss": "min"}

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(8, 5, generator=generator), torch.randn(8, 2, generator=generator)

    def train_batch(self, step):
        return self.x, self.y

    def loss(self, model, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x), y), {}

    def evaluate(self, model, split):
        return {"loss": self.loss(model, (self.x, self.y))[0].item()}

    def log_pictures(self, writer, model, step):
        pass


VOCAB = 13


def small(name: str, **kwargs):
    """Transformers cut to one layer per stack so that the paper's widths test in a second."""
    cut = {"N": 1} if name.startswith("transformer") else {}
    return create_model(name, src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, **cut, **kwargs)


def not_counted(*args) -> tuple[float, tuple[float, str]]:
    """In place of the loop's measure_efficiency: no FLOPs counted (no forward passes before training)."""
    return 1.0, (1.0, "not counted")


def without_evaluation(monkeypatch, cfg) -> None:
    """The run's task evaluates nothing (zeros) and logs no samples or pictures, and no FLOPs are counted: for
    tests of the training steps alone, which the rest would only slow down."""
    from landmarks.engine import loop

    monkeypatch.setattr(loop, "measure_efficiency", not_counted)
    task_class = validate(cfg).task
    monkeypatch.setattr(task_class, "evaluate", lambda self, model, split="val": dict.fromkeys(self.eval_metrics, 0.0))
    for hook in ("log_pictures", "log_samples"):
        monkeypatch.setattr(task_class, hook, lambda *args, **kwargs: None)


TINY_TASKS = {  # a model and data of each task small enough for a run of a few steps in a second or two
    "images": ["model.widths=[8,16,32]", "data.val_size=128"],
    "translation": [
        "model=transformer",
        "model.N=1",
        "data.train_size=64",
        "data.val_size=8",
        "data.test_size=8",
        "data.beam_size=1",
    ],
    "text": ["model=gpt", "model.n_layer=1", "data.val_fraction=0.01", "data.val_windows=8", "data.sample_length=8"],
    "generation": [
        "model=ddpm",
        "model.channels=[8,16]",
        "model.attention=[false,true]",
        "data.val_size=64",
        "data.fid_samples=8",
        "data.sample_steps=2",
    ],
    "gan": ["model=dcgan", "model.ngf=8", "model.ndf=8", "data.val_size=64", "data.fid_samples=8"],
}


def tiny_task(task: str, fashion_mnist_root: Path) -> list[str]:
    """TINY_TASKS[task]'s overrides, the images read from the tiny Fashion-MNIST fixture's folder."""
    return [
        *TINY_TASKS[task],
        *([f"data.root={fashion_mnist_root}"] if task in ("images", "generation", "gan") else []),
    ]
