"""DDPM and DDIM (models/diffusion.py): the noising, the posterior and each sampling step equal Hugging Face
diffusers' DDPMScheduler and DDIMScheduler on the same betas; the U-Net's shapes and gradients; classifier-free
guidance by its formula; the average of the weights samples; bad sampling arguments are one line."""

import pytest
import torch
from landmarks.models import create_model

from models.diffusion import DDPM, betas

SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}  # ours: diffusers' name


def tiny(**kwargs) -> DDPM:
    return DDPM(channels=(8, 16), attention=(False, True), groups=4, **kwargs)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_schedule_and_add_noise_equal_diffusers(schedule):
    from diffusers import DDPMScheduler

    reference = DDPMScheduler(num_train_timesteps=1000, beta_schedule=SCHEDULES[schedule])
    model = tiny(schedule=schedule)
    torch.testing.assert_close(betas(schedule, 1000), reference.betas, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.alphas_cumprod, reference.alphas_cumprod, rtol=0, atol=1e-6)
    x0, noise, t = torch.rand(6, 1, 28, 28) * 2 - 1, torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 10, 500, 998, 999])
    torch.testing.assert_close(model.add_noise(x0, noise, t), reference.add_noise(x0, noise, t), rtol=0, atol=1e-6)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_each_ancestral_step_and_its_posterior_variance_equal_diffusers_ddpm(schedule):
    from diffusers import DDPMScheduler

    reference = DDPMScheduler(num_train_timesteps=1000, beta_schedule=SCHEDULES[schedule])  # fixed_small, clipped
    model = tiny(schedule=schedule)
    x, eps = torch.randn(3, 1, 28, 28), torch.randn(3, 1, 28, 28) * 1.5  # large enough that x0_hat gets clipped
    for t in (999, 500, 37, 1, 0):
        ours = model.ddpm_step(eps, t, x, torch.randn(x.shape, generator=torch.Generator().manual_seed(t)))
        theirs = reference.step(eps, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
        step = model.ddpm_step(eps, t, x, torch.ones_like(x)) - model.ddpm_step(eps, t, x, torch.zeros_like(x))
        torch.testing.assert_close(step[0, 0, 0, 0] ** 2, reference._get_variance(t) if t else torch.tensor(0.0))


@pytest.mark.parametrize("steps", [1, 10, 50])
def test_each_ddim_step_and_its_timesteps_equal_diffusers_ddim(steps):
    from diffusers import DDIMScheduler

    reference = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear")  # eta 0, clipped, alpha_0 = 1
    reference.set_timesteps(steps)
    model = tiny()
    assert model.timesteps(steps) == reference.timesteps.tolist()
    x, eps = torch.randn(3, 1, 28, 28), torch.randn(3, 1, 28, 28)
    timesteps = model.timesteps(steps)
    for i, t in enumerate(timesteps):
        ours = model.ddim_step(eps, t, timesteps[i + 1] if i + 1 < len(timesteps) else -1, x)
        torch.testing.assert_close(ours, reference.step(eps, t, x).prev_sample, rtol=0, atol=1e-6)


def test_the_unet_keeps_the_image_shape_and_every_parameter_gets_a_gradient():
    model = create_model("ddpm_tiny", num_classes=10, conditional=True)
    zero_init = [name for name, p in model.named_parameters() if not p.abs().sum() > 0]
    assert "unet.head.2.weight" in zero_init and "unet.down.0.blocks.0.conv2.weight" in zero_init  # App. B
    with torch.no_grad():  # as after a step: a zero output convolution passes no gradient back
        for name, p in model.named_parameters():
            if name in zero_init:
                p.normal_(0, 0.01)
    model(torch.rand(4, 1, 28, 28) * 2 - 1, torch.tensor([0, 3, 9, 1])).backward()
    assert model.unet(torch.randn(2, 1, 28, 28), torch.tensor([5, 900]), torch.tensor([10, 2])).shape == (2, 1, 28, 28)
    assert not [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert model.ema.weights().keys() == dict(model.unet.named_parameters()).keys()
    assert not any(name.startswith("ema") for name, _ in model.named_parameters())  # buffers: no optimizer sees them


def test_labels_become_the_null_class_with_p_uncond(monkeypatch):
    model, seen = tiny(num_classes=3, conditional=True, p_uncond=1.0), []
    monkeypatch.setattr(model.unet, "forward", lambda x, t, labels: seen.append(labels) or torch.zeros_like(x))
    model(torch.zeros(4, 1, 28, 28), torch.tensor([0, 1, 2, 0]))
    assert seen[0].tolist() == [3, 3, 3, 3]


def test_guidance_mixes_the_conditional_and_unconditional_noise_by_its_formula():
    model = tiny(num_classes=3, conditional=True).eval()
    x, labels, w = torch.randn(2, 1, 28, 28), torch.tensor([0, 2]), 3.0
    conditional, unconditional = model.eps(x, 400, labels, None), model.eps(x, 400, torch.tensor([3, 3]), None)
    torch.testing.assert_close(model.eps(x, 400, labels, w), (1 + w) * conditional - w * unconditional)


def test_the_average_of_the_weights_samples_and_warms_up():
    model = tiny(ema_decay=0.9)
    before = {name: p.detach().clone() for name, p in model.unet.named_parameters()}
    with torch.no_grad():
        for p in model.unet.parameters():
            p.add_(1.0)
    model.after_step()  # first update: decay min(0.9, 1/10)
    for name, weight in model.ema.weights().items():
        torch.testing.assert_close(weight, before[name] + 0.9)
    x = torch.randn(1, 1, 28, 28)
    averaged = tiny(ema_decay=0.9).eval()
    averaged.unet.load_state_dict(model.ema.weights())
    model.eval()  # no dropout
    torch.testing.assert_close(model.eps(x, 10, None, None), averaged.unet(x, torch.tensor([10])))


def test_sampling_gives_images_in_range_and_a_strip_of_the_denoising():
    model = tiny().eval()
    images, strip = model.sample(3, steps=4, generator=torch.Generator().manual_seed(0), every=2)
    assert images.shape == (3, 1, 28, 28) and images.abs().max() <= 1 and len(strip) == 2
    again = model.sample(3, steps=4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(images, again)  # DDIM is deterministic given the first noise


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps=0: a DDIM sampler takes 1 to the 1000 training steps"),
        ({"steps": 1001}, "steps=1001: a DDIM sampler takes 1 to the 1000"),
        ({"guidance": 2.0}, "guidance=2.0 needs a class-conditional model"),
    ],
)
def test_bad_sampling_arguments_are_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny().sample(1, **kwargs)


def test_a_conditional_model_of_one_class_is_refused():
    with pytest.raises(ValueError, match="model.conditional=true needs data of 2 classes or more, not 1"):
        tiny(num_classes=1, conditional=True)
