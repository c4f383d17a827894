"""The dataset readers on files written in the real formats, downloads, checksums and augmentation."""

import pytest
import torch
from omegaconf import OmegaConf

from landmarks import datasets, download
from landmarks.tasks.image_classification.data import load_image_data, random_crop_flip
from landmarks.tasks.image_classification.datasets.idx import read_idx
from tests.conftest import (
    CONFIGS,
    compose_config,
    image_arrays,
    patch_spec,
    write_cifar10_format,
    write_idx,
    write_mnist_format,
)


def test_vendored_fashion_mnist_verifies_and_has_the_documented_shapes():
    arrays = image_arrays("fashion_mnist")
    images, labels = arrays["train"]
    assert images.shape == (60000, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and set(labels.unique().tolist()) == set(range(10))
    assert arrays["test"][0].shape == (10000, 1, 28, 28)
    assert arrays["classes"][9] == "Ankle boot"


def test_idx_round_trip(tmp_path):
    tensor = torch.randint(0, 256, (5, 3, 4), dtype=torch.uint8)
    write_idx(tmp_path / "x.gz", tensor)
    assert torch.equal(read_idx(tmp_path / "x.gz"), tensor)


def test_truncated_idx_is_named(tmp_path):
    write_idx(tmp_path / "x.gz", torch.zeros(5, 3, 4, dtype=torch.uint8))
    import gzip

    data = gzip.open(tmp_path / "x.gz").read()
    with gzip.open(tmp_path / "y.gz", "wb") as f:
        f.write(data[:-7])
    with pytest.raises(datasets.DatasetError, match="truncated"):
        read_idx(tmp_path / "y.gz")
    (tmp_path / "z").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(datasets.DatasetError, match="not an IDX file"):
        read_idx(tmp_path / "z")


def mnist_source(tmp_path, monkeypatch, server: str):
    """MNIST-format files on an HTTP mirror, served by a spec whose first mirror answers 404."""
    mirror = tmp_path / "mirror"
    write_mnist_format(mirror, train=12, test=4)
    patch_spec(monkeypatch, "mnist", mirror, urls=(server + "nonexistent/", server + "mirror/"))
    return datasets.SPECS["mnist"]


def test_mnist_downloads_through_mirrors_verifies_and_loads(tmp_path, monkeypatch, http_server):
    mnist_source(tmp_path, monkeypatch, http_server)
    root = tmp_path / "cache"
    with pytest.raises(datasets.DatasetError, match=rf"python -m landmarks.download mnist --root {root}"):
        image_arrays("mnist", str(root))
    arrays = image_arrays("mnist", str(root), download=True)
    assert sorted(path.name for path in root.iterdir()) == sorted(r.filename for r in datasets.SPECS["mnist"].resources)
    assert arrays["train"][0].shape == (12, 1, 28, 28)
    assert arrays["test"][1].tolist() == [0, 1, 2, 3]


def test_corrupted_file_fails_its_checksum_with_the_fix(tmp_path, monkeypatch, http_server):
    spec = mnist_source(tmp_path, monkeypatch, http_server)
    root = tmp_path / "cache"
    datasets.download(spec, root)
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(datasets.DatasetError, match=r"t10k-labels-idx1-ubyte.gz fails its checksum.*Delete it and run"):
        image_arrays("mnist", str(root))


def test_cifar10_reads_the_python_pickle_batches(tmp_path, monkeypatch):
    expected = write_cifar10_format(tmp_path, per_batch=3)
    patch_spec(monkeypatch, "cifar10", tmp_path)
    arrays = image_arrays("cifar10", str(tmp_path))
    images, labels = arrays["train"]
    assert images.shape == (15, 3, 32, 32)
    assert torch.equal(images[:3].reshape(3, -1), expected["data_batch_1"][0])  # rows are R, G, B planes of 32x32
    assert labels[-3:].tolist() == expected["data_batch_5"][1]
    assert arrays["test"][0].shape == (3, 3, 32, 32)


def test_validation_split_is_seeded_and_disjoint(tiny_fashion_mnist):
    def load(seed):
        cfg = OmegaConf.load(f"{CONFIGS}/data/fashion_mnist.yaml")
        cfg.root, cfg.val_size = str(tiny_fashion_mnist), 64
        return load_image_data(cfg, seed=seed, device="cpu")

    a, b, c = load(0), load(0), load(1)
    assert torch.equal(a.val.images, b.val.images) and not torch.equal(a.val.images, c.val.images)
    assert len(a.train) == 576 and len(a.val) == 64 and len(a.test) == 128
    train_rows = {bytes(x.flatten().tolist()) for x in a.train.images}
    assert not any(bytes(x.flatten().tolist()) in train_rows for x in a.val.images)


def test_train_size_keeps_a_seeded_subset_of_the_training_split(tiny_fashion_mnist):
    cfg = OmegaConf.load(f"{CONFIGS}/data/fashion_mnist.yaml")
    cfg.root, cfg.val_size = str(tiny_fashion_mnist), 64
    whole = load_image_data(cfg, seed=0, device="cpu")
    cfg.train_size = 100
    subset = load_image_data(cfg, seed=0, device="cpu")
    assert len(subset.train) == 100 and torch.equal(subset.val.images, whole.val.images)
    assert torch.equal(subset.train.images, whole.train.images[:100]) and len(subset.test) == len(whole.test)
    cfg.train_size = 577
    with pytest.raises(ValueError, match=r"data.train_size=577: .* 576 training images .* at most 576"):
        load_image_data(cfg, seed=0, device="cpu")


def test_random_crop_shifts_and_flip_mirrors():
    images = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    generator = torch.Generator().manual_seed(0)
    flipped = random_crop_flip(images, padding=0, flip=True, generator=generator)
    for original, out in zip(images, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(2))
    crops = random_crop_flip(images, padding=2, flip=False, generator=generator)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for p, out in zip(padded, crops):  # every crop is some 6x6 window of the padded image
        assert any(torch.equal(out, p[:, i : i + 6, j : j + 6]) for i in range(5) for j in range(5))


def test_the_dataset_module_ends_a_failed_download_with_one_line(tmp_path, monkeypatch):
    def offline(spec, directory):
        raise datasets.DatasetError(f"{spec.name}: could not download train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr(datasets, "download", offline)
    with pytest.raises(SystemExit, match=r"^landmarks.download: mnist: could not download .*: no network$"):
        download.main(["mnist", "--root", str(tmp_path)])


@pytest.mark.parametrize(
    "overrides",
    [
        ("model=resnet", "data.val_size=128", "data.augment.crop_padding=2", "data.augment.flip=true"),
        ("model=transformer", "data.train_size=300", "data.val_size=20", "data.test_size=20"),
        ("model=gpt",),
    ],
    ids=["images", "translation", "text"],
)
def test_a_batch_is_a_function_of_the_step_alone(overrides, tiny_fashion_mnist):
    """Resume and DDP rest on it: a freshly built task draws the batch of step 7 as one that drew 0-6 first."""
    from landmarks.build import build_task

    root = [f"data.root={tiny_fashion_mnist}"] if "model=resnet" in overrides else []
    cfg = compose_config(*overrides, *root, "trainer.batch_size=16")
    walked, fresh = build_task(cfg, "cpu"), build_task(cfg, "cpu")
    for step in range(7):
        walked.train_batch(step)
    for late, first in zip(walked.train_batch(7), fresh.train_batch(7)):
        assert torch.equal(late, first)
    assert not torch.equal(fresh.train_batch(8)[0], fresh.train_batch(7)[0])


def test_the_shipped_data_is_refused_when_tampered_with(tmp_path, monkeypatch):
    """README: the shipped Fashion-MNIST and tiny Shakespeare are checksum-verified at every load."""
    import shutil

    copy = tmp_path / "fashion-mnist"
    shutil.copytree(datasets.REPO_ROOT / "data" / "fashion-mnist", copy)
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[100] ^= 0xFF  # one byte changed
    labels.write_bytes(bytes(data))
    with pytest.raises(datasets.DatasetError, match="t10k-labels-idx1-ubyte.gz fails its checksum"):
        image_arrays("fashion_mnist", str(copy))
    text = tmp_path / "input.txt"
    text.write_text(datasets.SHAKESPEARE.read_text(encoding="utf-8").replace("ROMEO", "ROMEA", 1), encoding="utf-8")
    monkeypatch.setattr(datasets, "SHAKESPEARE", text)
    with pytest.raises(datasets.DatasetError, match="fails its sha256 checksum; restore it with `git checkout"):
        datasets.shakespeare_text()
