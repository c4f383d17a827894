"""Users' own images: a folder in ImageFolder layout, PNG and JPEG files of several sizes, trains and evaluates,
comes back with load_run, and bad folders or files are clear errors."""

from pathlib import Path

import pytest
import torch

from landmarks import load_run
from landmarks.build import build_task
from landmarks.datasets import DatasetError
from landmarks.tasks.image_classification.datasets.image_folder import FolderImages
from tests.conftest import compose_config, write_images
from train import run


def folder_run(path: Path, *extra: str):
    quick = ["trainer.batch_size=16", "trainer.epochs=3", "trainer.eval_every=0", "trainer.progress=false"]
    sizes = ["data.image_size=32", "data.val_size=8", "model.widths=[8,16,32]"]
    return compose_config("model=resnet", "data=image_folder", f"data.path={path}", *sizes, *quick, *extra)


def test_a_folder_of_png_and_jpeg_images_trains_evaluates_and_comes_back(tmp_path):
    folder = write_images(tmp_path / "images")
    results = run(folder_run(folder), tmp_path / "run")
    assert results["test/acc"] > 0.5  # three classes, told apart by colour
    trained = load_run(tmp_path / "run")
    assert trained.exported["classes"] == ["circle", "square", "stripes"]
    assert trained.evaluate("test")["acc"] == results["test/acc"]


def test_train_and_val_subfolders_are_the_training_and_test_splits(tmp_path):
    write_images(tmp_path / "images" / "train")
    write_images(tmp_path / "images" / "val", per_class=4)
    results = run(folder_run(tmp_path / "images", "trainer.max_steps=1"), tmp_path / "run")
    assert load_run(tmp_path / "run").metrics["test/acc"] == results["test/acc"]
    task = build_task(load_run(tmp_path / "run").config, torch.device("cpu"))
    assert len(task.data.test) == 12 and len(task.data.train) + len(task.data.val) == 72


def test_a_small_folder_trains_with_no_size_of_its_own(tmp_path, capsys):
    """60 images, the generic batch of 128 and no data.val_size: a tenth held out, the batch fitted, said once."""
    folder = write_images(tmp_path / "images", per_class=20)
    cfg = compose_config("data=image_folder", f"data.path={folder}", "trainer.max_steps=2", "trainer.progress=false")
    results = run(cfg, tmp_path / "r")
    assert results["step"] == 2
    opening = capsys.readouterr().out.splitlines()[1]
    assert "100 steps: 20 epochs of 5 batches (trainer.epochs=10 -> trainer.steps_floor)" in opening, opening
    assert "batches of 8 (trainer.batch_size=128 exceeds the training split)" in opening
    task = load_run(tmp_path / "r").task()
    assert (len(task.data.train), len(task.data.val), len(task.data.test)) == (44, 4, 12)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: root.mkdir(), r"holds no images: expected .*/<class>/<image>.png"),
        (lambda root: write_images(root, classes=("only",)), r"holds a single class \(only\)"),
        (
            lambda root: (write_images(root), (root / "square" / "3.png").write_bytes(b"not a png")),
            r"3.png is not a readable image",
        ),
        (lambda root: None, r"data.path=.* is not a folder"),
    ],
)
def test_bad_folders_and_files_are_named(tmp_path, make, message):
    make(tmp_path / "images")
    with pytest.raises(DatasetError, match=message) as error:
        run(folder_run(tmp_path / "images"), tmp_path / "run")
    assert "\n" not in str(error.value)  # one line, from a DataLoader worker process too


def test_a_folder_too_large_for_memory_streams_from_disk_to_the_same_numbers(tmp_path):
    folder = write_images(tmp_path / "images")
    resident = run(folder_run(folder, "trainer.epochs=1"), tmp_path / "resident")
    streamed = run(folder_run(folder, "trainer.epochs=1", "data.max_memory_gb=1e-6"), tmp_path / "streamed")
    assert streamed["test/loss"] == resident["test/loss"] and streamed["test/acc"] == resident["test/acc"]
    trained = load_run(tmp_path / "streamed")
    task = build_task(trained.config, torch.device("cpu"))
    assert isinstance(task.data.train.images, FolderImages) and isinstance(task.data.test.images, FolderImages)
    assert trained.evaluate("test")["acc"] == streamed["test/acc"]


def test_each_process_decodes_only_its_share_of_a_streamed_batch(tmp_path, monkeypatch):
    """Under torchrun a streamed folder decodes this process's share of the batch alone, and that share is the
    in-memory batch's, augmentation included."""
    from landmarks.tasks.image_classification.datasets import image_folder

    folder = write_images(tmp_path / "images")
    resident = build_task(folder_run(folder, "data.num_workers=0"), "cpu")
    streamed = build_task(folder_run(folder, "data.num_workers=0", "data.max_memory_gb=1e-6"), "cpu")
    decoded, decode = [], image_folder.decode
    monkeypatch.setattr(image_folder, "decode", lambda file, *sizes: decoded.append(file) or decode(file, *sizes))
    for rank in range(2):
        decoded.clear()
        images, labels = streamed.local_batch(3, rank, 2)
        assert len(decoded) == len(images) == 8  # half of the batch of 16
        expected_images, expected_labels = resident.local_batch(3, rank, 2)
        assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
