"""DCGAN (models/gan.py): the paper's layout and initialisation, Goodfellow et al.'s losses by their formulas, each
phase's gradients reaching its player, the class as input to both players, sampling and its refusals."""

import pytest
import torch
from landmarks.models import create_model


def gan(**kwargs):
    torch.manual_seed(0)
    return create_model("dcgan_tiny", **{"ngf": 8, "ndf": 8, **kwargs})


def test_the_layout_follows_the_papers_guidelines():
    model = gan()
    layers = [*model.generator.layers, *model.discriminator.layers]
    assert not any(isinstance(m, (torch.nn.Linear, torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in layers)
    assert isinstance(model.generator.layers[-1], torch.nn.Tanh)
    assert not isinstance(model.generator.layers[-2], torch.nn.BatchNorm2d)  # no batch norm at G's output
    assert not isinstance(model.discriminator.layers[1], torch.nn.BatchNorm2d)  # nor at D's input
    assert all(m.negative_slope == 0.2 for m in model.discriminator.layers if isinstance(m, torch.nn.LeakyReLU))
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    weights = torch.cat([m.weight.detach().flatten() for m in convolutions])
    assert weights.mean().abs() < 2e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.05)  # N(0, 0.02), Sec. 4
    assert list(model.phases()) == ["discriminator", "generator"]


def test_the_losses_are_goodfellows_with_the_non_saturating_generator():
    model = gan().eval()  # batch norm from running statistics: the same logits for the same images
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    d_loss = model(x, phase="discriminator")
    torch.manual_seed(1)
    fake = model.generator(torch.randn(6, model.nz), None)
    real, faked = model.discriminator(x, None), model.discriminator(fake, None)
    expected = -(torch.sigmoid(real).log().mean() + (1 - torch.sigmoid(faked)).log().mean())
    torch.testing.assert_close(d_loss, expected)
    torch.manual_seed(1)
    torch.testing.assert_close(model(x, phase="generator"), -torch.sigmoid(faked).log().mean())  # -log D(G(z))
    with pytest.raises(ValueError, match="phase='critic': a DCGAN's phases are 'discriminator' and 'generator'"):
        model(x, phase="critic")


@pytest.mark.parametrize("phase, trained", [("discriminator", "discriminator"), ("generator", "generator")])
def test_each_phases_loss_reaches_every_parameter_of_its_player(phase, trained):
    model = gan(num_classes=3, conditional=True)
    model(torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2, 0]), phase=phase).backward()
    player = dict(model.phases())[trained]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in player.parameters())
    assert all(p.grad is not None for p in model.parameters())  # under DDP every parameter takes part


def test_the_class_conditions_both_players():
    model = gan(num_classes=3, conditional=True).eval()
    z = torch.randn(2, model.nz)
    assert not torch.equal(model.generator(z, torch.tensor([0, 0])), model.generator(z, torch.tensor([1, 1])))
    x = torch.rand(2, 1, 28, 28)
    assert not torch.equal(model.discriminator(x, torch.tensor([0, 0])), model.discriminator(x, torch.tensor([2, 2])))
    assert model.generator.layers[0].in_channels == model.nz + 3 and model.discriminator.layers[0].in_channels == 4
    with pytest.raises(ValueError, match="model.conditional=true needs data of 2 classes or more, not 1"):
        gan(num_classes=1, conditional=True)


def test_sampling_draws_images_in_range_in_one_pass_and_refuses_a_diffusion_models_settings():
    model = gan(num_classes=3, conditional=True).eval()
    images = model.sample(5, torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(0))
    assert images.shape == (5, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    again = model.sample(5, torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(images, again)
    assert model.sample(3).shape == (3, 1, 28, 28)  # classes drawn at random
    with pytest.raises(ValueError, match="a GAN samples in one pass"):
        model.sample(2, steps=10)
    with pytest.raises(ValueError, match="data.image_size=28"):
        gan(image_size=32)


def test_a_players_step_moves_only_that_player():
    model = gan()
    optimizers = {
        name: torch.optim.Adam(p.parameters(), 2e-4, betas=(0.5, 0.999)) for name, p in model.phases().items()
    }
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model(x, phase="discriminator").backward()
    optimizers["discriminator"].step()
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert moved and all(name.startswith("discriminator.") for name in moved)
