"""Image generation (landmarks/tasks/image_generation/): a small DDPM trains on real Fashion-MNIST images through
the one loop, reports the Fréchet distance beside its floor and the class accuracy of its samples, draws its grids
and samples from load_run; the Fréchet distance by its formula; settings the model cannot honour are refused before
the first step. (Its exact resume, the average of the weights too: tests/engine/test_train.py.)"""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from landmarks import load_run
from landmarks.config import validate
from landmarks.schema import ConfigError
from landmarks.tasks.image_generation.fid import frechet_distance
from tests.conftest import compose_config
from train import run

SMALL = ["model.channels=[8,16]", "model.attention=[false,true]", "model.blocks=1", "model.dropout=0.0"]


def overrides(root, *extra: str) -> list[str]:
    return [
        "model=ddpm",
        *SMALL,
        f"data.root={root}",
        "data.val_size=64",
        "data.test_size=64",
        "data.fid_samples=32",
        "data.sample_steps=2",
        "trainer.batch_size=16",
        "trainer.steps=24",
        "trainer.log_every=4",
        "trainer.eval_every=12",
        "trainer.ckpt_every=12",
        "trainer.progress=false",
        "optim.lr=2e-3",
        *extra,
    ]


def test_frechet_distance_is_zero_for_one_set_and_the_squared_shift_for_a_moved_one():
    features = torch.randn(500, 6, dtype=torch.float64) @ torch.randn(6, 6, dtype=torch.float64)
    shift = torch.arange(6, dtype=torch.float64)
    assert frechet_distance(features, features) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(features, features + shift) == pytest.approx(float(shift.square().sum()), rel=1e-6)
    covariance = torch.cov(features.T)  # doubled features: Tr(S + 4S - 2 (4 S^2)^1/2) = Tr(S), means apart by mu
    expected = float(torch.trace(covariance) + features.mean(0).square().sum())
    assert frechet_distance(features, 2 * features) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_a_small_ddpm_trains_reports_its_fid_and_samples(tiny_fashion_mnist, tmp_path):
    results = run(compose_config(*overrides(tiny_fashion_mnist)), tmp_path)
    losses = [loss for _, loss in results["history"]]
    assert losses[0] == pytest.approx(1.0, abs=0.15) and losses[-1] < 0.8 * losses[0], losses  # zero output: E[eps^2]
    assert results["test/fd_classifier"] > results["test/fd_classifier_floor"] >= 0
    assert 0 <= results["test/class_acc"] <= 1 and "val/fd_classifier" in results
    assert "not Inception FID" in results["fid_features"]
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert {"samples/grid", "samples/denoising"} <= set(events.Tags()["images"])
    assert [event.step for event in events.Images("samples/grid")] == [12, 24]  # each validation, the same noise
    trained = load_run(tmp_path)
    images = trained.sample(8)
    assert images.shape == (8, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    sneakers = trained.sample(2, labels="Sneaker", steps=3, guidance=1.5)
    assert sneakers.shape == (2, 1, 28, 28) and not torch.equal(sneakers, trained.sample(2, labels=0, steps=3))
    with pytest.raises(ValueError, match="give 2 of the classes"):
        trained.sample(2, labels="Unicorn")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["model.conditional=false", "data.guidance=2"], "data.guidance=2 needs a class-conditional model"),
        (["data.sample_steps=1001"], "data.sample_steps=1001: give 1 to the model's T=1000, or null"),
    ],
)
def test_settings_the_model_cannot_honour_are_one_line_before_training(tiny_fashion_mnist, tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        run(compose_config(*overrides(tiny_fashion_mnist), *extra), tmp_path)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["data.sample_steps=20"], "data.sample_steps=20: the model samples in one pass; set it null"),
        (["data.guidance=1.5"], "data.guidance=1.5 needs a diffusion model or data.guidance=null"),
    ],
)
def test_a_gan_refuses_a_diffusion_models_sampling_settings(tiny_fashion_mnist, tmp_path, extra, message):
    gan = ["model=dcgan", "model.ngf=8", "model.ndf=8", f"data.root={tiny_fashion_mnist}", "data.val_size=64"]
    with pytest.raises(ValueError, match=message):
        run(compose_config(*gan, "trainer.steps=1", "trainer.progress=false", *extra), tmp_path)


def test_images_of_another_task_name_the_fix():
    with pytest.raises(ConfigError, match="model.name=ddpm_tiny is a image_generation model but data=fashion_mnist"):
        validate(compose_config("model=ddpm", "data=fashion_mnist"))
