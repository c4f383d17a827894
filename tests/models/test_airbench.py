"""airbench's network and training tricks (Jordan 2024): patch whitening, identity initialisation, the paper's
size, BatchNorm biases at a scaled learning rate, lookahead, and multi-crop test-time augmentation."""

import torch
import torch.nn.functional as F
from landmarks.models import create_model
from landmarks.models.airbench import Conv

from landmarks.engine.lookahead import Lookahead
from landmarks.engine.optimizers import build_optimizer
from landmarks.engine.optimizers.sgd import SGDConfig
from landmarks.engine.schedules import build_schedule
from landmarks.tasks.image_classification.data import multi_view_logits, shifted


def smooth_images(n: int, channels: int, size: int = 16) -> torch.Tensor:
    """Noise blurred by a 3x3 mean: neighbouring pixels correlate, as in real images."""
    noise = torch.randn(n, channels, size + 2, size + 2, generator=torch.Generator().manual_seed(0))
    return 10 * F.avg_pool2d(noise, 3, stride=1)


def test_whitening_layer_decorrelates_the_training_patches():
    model = create_model("airbench94")
    images = smooth_images(64, 3)
    model.init_whitening(images)
    weight = model.whiten.weight  # (24, 3, 2, 2)
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    covariance = patches.T @ patches / len(patches)
    assert covariance[0, 1] > 0.5 * covariance[0, 0]  # neighbours correlate before the layer
    filters = weight[:12].reshape(12, 12)
    torch.testing.assert_close(filters @ covariance @ filters.T, torch.eye(12), atol=2e-3, rtol=0)
    torch.testing.assert_close(weight[12:], -weight[:12])  # both signs, for the GELU after it
    assert not weight.requires_grad and model.whiten.bias.requires_grad


def test_convolutions_start_as_the_identity_on_their_input_channels():
    conv, x = Conv(4, 8), torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(conv(x)[:, :4], x)


def test_airbench94_has_the_papers_size_and_frozen_batchnorm_scales():
    model = create_model("airbench94")
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 1.97
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 6 and all(not m.weight.requires_grad and m.bias.requires_grad for m in norms)


def test_batchnorm_biases_train_at_the_scaled_learning_rate_through_the_schedule():
    model = create_model("airbench_tiny")
    cfg = SGDConfig(
        name="sgd", lr=0.5, momentum=0.85, nesterov=True, weight_decay=1e-3, norm_lr_scale=64, schedule="onecycle"
    )
    cfg.warmup = 0.25
    optimizer = build_optimizer(cfg, model, torch.device("cpu"))
    schedule = build_schedule(cfg, optimizer, total_steps=8)
    biases = {id(m.bias) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert {id(p) for p in optimizer.param_groups[2]["params"]} == biases
    assert optimizer.param_groups[2]["weight_decay"] == 0
    for _ in range(3):
        optimizer.step()
        schedule.step()
        assert optimizer.param_groups[2]["lr"] == 64 * optimizer.param_groups[0]["lr"] > 0


def test_lookahead_averages_every_five_steps_and_ends_on_the_slow_weights():
    model = torch.nn.Linear(1, 1, bias=False)
    model.weight.data.fill_(0.0)
    lookahead, slow = Lookahead(model, decay=0.9, total_steps=12), 0.0
    for step in range(1, 13):
        model.weight.data.add_(1.0)  # an optimizer step
        lookahead.step(model, step)
        if step % 5 == 0:
            decay = 0.9**5 * (step / 12) ** 3
            slow = decay * slow + (1 - decay) * (slow + 5)  # the fast weights moved 5 since the last sync
            assert model.weight.item() == lookahead.state_dict()["weight"].item()
            assert abs(model.weight.item() - slow) < 1e-5
    assert abs(model.weight.item() - slow) < 1e-5  # step 12: back to the slow weights, unmoved since step 10


def test_multi_crop_views_are_the_image_its_mirror_and_diagonal_shifts():
    images = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert shifted(images, 1)[0, 0, 1:, 1:].equal(images[0, 0, :3, :3])
    assert shifted(images, 1)[0, 0, 0].eq(0).all() and shifted(images, -1)[0, 0, -1].eq(0).all()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    views = [images, images.flip(3), shifted(images, -1), shifted(images, -1).flip(3)]
    views += [shifted(images, 1), shifted(images, 1).flip(3)]
    expected = sum(w * model(v) for w, v in zip([1 / 4, 1 / 4, 1 / 8, 1 / 8, 1 / 8, 1 / 8], views))
    torch.testing.assert_close(multi_view_logits(model, images, lambda x: x, flip=True, translate=1), expected)
