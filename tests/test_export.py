"""A trained model shared without pickle: every finished run dir holds model.safetensors and model.json;
`python -m landmarks.export` writes just those, which load_run and torch.hub read back with the run's test
metrics; a truncated, mismatched or foreign file ends in one line naming it, nothing half-loaded."""

import json
import shutil

import pytest
import torch

from landmarks import load_run
from landmarks.engine.checkpoint import CheckpointError
from landmarks.export import join_export, main, split_export
from tests.conftest import CONFIGS, compose_config, tiny_run_overrides
from train import run


@pytest.fixture
def shared(tiny_fashion_mnist, tmp_path):
    """A finished tiny run, exported to a folder of its own: (its results, the run dir, the exported folder)."""
    results = run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, "trainer.max_steps=3")), tmp_path / "run")
    main([str(tmp_path / "run"), str(tmp_path / "shared")])
    return results, tmp_path / "run", tmp_path / "shared"


def test_an_exported_folder_reproduces_the_runs_test_metrics_without_a_checkpoint(shared):
    results, run_dir, folder = shared
    assert {"model.safetensors", "model.json"} <= {path.name for path in run_dir.iterdir()}  # every finished run
    assert sorted(path.name for path in folder.iterdir()) == ["model.json", "model.safetensors"]
    trained = load_run(folder)
    assert trained.evaluate("test") == {"loss": results["test/loss"], "acc": results["test/acc"]}
    images = torch.rand(4, 1, 28, 28)
    assert trained.classify(images) == load_run(run_dir).classify(images)
    from_hub = torch.hub.load(str(CONFIGS.rsplit("/", 1)[0]), "trained", source="local", path=str(folder))
    for name, value in trained.model.state_dict().items():
        assert torch.equal(from_hub.state_dict()[name], value)


def test_the_tasks_export_survives_as_json_tensors_and_bytes():
    exported = {
        "classes": ["a", "b"],
        "mean": torch.arange(3.0),
        "tokenizer": {"level": "subword", "model": b"\x00bpe"},
    }
    plain, tensors, kinds = split_export(exported)
    assert json.loads(json.dumps(plain)) == {"classes": ["a", "b"], "tokenizer": {"level": "subword"}}
    back = join_export(plain, {f"export/{key}": value for key, value in tensors.items()}, kinds)
    assert back["tokenizer"]["model"] == b"\x00bpe" and torch.equal(back["mean"], exported["mean"])


def spoil_weights(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


def spoil_description(folder, **changes):
    description = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**description, **changes}))


def other_size(folder, tmp_path):
    """Weights of a wider model beside this description, as an interrupted or mixed-up copy would leave."""
    description = json.loads((folder / "model.json").read_text())
    spoil_description(folder, model={**description["model"], "widths": [16, 32, 64]})


@pytest.mark.parametrize(
    "spoil, message",
    [
        (spoil_weights, r"model.safetensors is missing or not the weights .*model.json describes"),
        (lambda folder, _: spoil_description(folder, format=7), r"model.json is not a Landmarks model description"),
        (lambda folder, _: (folder / "model.json").write_text("{not json"), r"is not a Landmarks model description"),
        (lambda folder, _: spoil_description(folder, model={"name": "resnet9"}), r"its model cannot be built: Unknown"),
        (other_size, r"model.safetensors does not fit the model .* describes \(another size\?\): size mismatch"),
    ],
)
def test_a_bad_shared_file_is_one_line_naming_it(shared, tmp_path, spoil, message):
    folder = shared[2]
    spoil(folder, tmp_path) if spoil is not spoil_weights else spoil(folder)
    with pytest.raises(CheckpointError, match=message) as error:
        load_run(folder)
    assert "\n" not in str(error.value)


def test_a_truncated_weights_file_with_its_hash_is_refused_as_unreadable(shared):
    folder = shared[2]
    spoil_weights(folder)
    from landmarks.datasets import file_hash

    spoil_description(folder, weights_sha256=file_hash(folder / "model.safetensors", "sha256"))
    with pytest.raises(CheckpointError, match=r"model.safetensors is not a readable safetensors file"):
        load_run(folder)


def test_the_export_command_refuses_a_dir_that_is_not_a_run(tmp_path):
    shutil.rmtree(tmp_path, ignore_errors=True)
    with pytest.raises(SystemExit, match=r"^landmarks.export: .*model.pt not found; pass the run dir that train.py"):
        main([str(tmp_path), str(tmp_path / "out")])


def test_an_export_interrupted_between_weights_and_description_is_refused(shared, monkeypatch):
    """The weights are renamed into place first: a crash before the description leaves the old description,
    which names other weights, so the pair is refused instead of loaded mismatched."""
    import landmarks.export

    folder = shared[2]
    model = landmarks.export.read_shared(folder)[0]
    with torch.no_grad():
        model.fc.weight.add_(1.0)  # other weights, as from another run
    description = json.loads((folder / "model.json").read_text())
    writes = iter([True, False])  # the weights, then the description fails

    def crash_before_the_description(path, write):
        if not next(writes):
            raise KeyboardInterrupt
        return atomic_write(path, write)

    atomic_write = landmarks.export.atomic_write
    monkeypatch.setattr(landmarks.export, "atomic_write", crash_before_the_description)
    with pytest.raises(KeyboardInterrupt):
        landmarks.export.write_shared(folder, model, description["model"], "image_classification", {}, {})
    with pytest.raises(CheckpointError, match=r"model.safetensors is missing or not the weights .* describes"):
        load_run(folder)
    assert not list(folder.glob(".*.tmp"))  # no temporary file left behind


def test_a_tokenizer_that_is_not_one_is_one_line(tmp_path):
    overrides = ["model=transformer", "data.train_size=128", "data.val_size=8", "data.test_size=8"]
    quick = ["trainer.batch_size=32", "trainer.max_steps=1", "trainer.eval_every=0", "trainer.progress=false"]
    run(compose_config(*overrides, *quick), tmp_path / "run")
    description = json.loads((tmp_path / "run" / "model.json").read_text())
    description["export"]["tokenizer"]["level"] = "subword"  # a sentencepiece model that is not there
    (tmp_path / "run" / "model.json").write_text(json.dumps(description))
    with pytest.raises(CheckpointError, match=r"run: what its task exported cannot be read back: KeyError\('model'\)"):
        load_run(tmp_path / "run")
