"""AlexNet against the paper's description and torchvision's implementation."""

import pytest
import torch
import torch.nn.functional as F
from landmarks.models import create_model
from landmarks.models.alexnet import LocalResponseNorm


def test_local_response_norm_is_the_papers_formula():
    torch.manual_seed(0)
    a = torch.randn(2, 7, 5, 5) * 10
    ours = LocalResponseNorm(a.shape[1], n=5, k=2.0, alpha=1e-4, beta=0.75)(a)
    reference = torch.nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)(a)  # PyTorch divides alpha by n
    torch.testing.assert_close(ours, reference)
    i = 3  # channel 3 by hand: neighbours 1..5
    torch.testing.assert_close(ours[:, i], a[:, i] / (2.0 + 1e-4 * a[:, 1:6].square().sum(1)) ** 0.75)


@pytest.mark.parametrize("n", [5, 4])  # 4: a window one channel longer below than above, W not symmetric
def test_local_response_norm_backward_is_the_formulas_derivative(n):
    torch.manual_seed(0)
    a = (torch.randn(2, 7, 3, 3, dtype=torch.float64) * 10).requires_grad_()
    norm = LocalResponseNorm(a.shape[1], n=n, alpha=1e-2).double()
    assert torch.autograd.gradcheck(norm, (a,))
    assert torch.autograd.gradcheck(norm, (a.to(memory_format=torch.channels_last).detach().requires_grad_(),))


def test_local_response_norm_trains_under_bf16_autocast():
    torch.manual_seed(0)
    a = (torch.randn(2, 7, 3, 3) * 10).requires_grad_()
    norm = LocalResponseNorm(a.shape[1], alpha=1e-2)
    norm(a).sum().backward()
    exact, a.grad = a.grad, None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = norm(F.conv2d(a, torch.eye(7)[:, :, None, None]))  # a bf16 map, as after a convolution
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    torch.testing.assert_close(a.grad, exact, rtol=0.05, atol=0.05)


def test_paper_network_has_its_layers_and_sizes():
    model = create_model("alexnet")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # conv2, conv4, conv5 stay on one GPU (Sec. 3.5)
    assert sum(isinstance(m, LocalResponseNorm) for m in model.features) == 2
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(61, abs=0.5)  # "60 million parameters"
    x = torch.randn(1, 3, 224, 224)
    maps = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, torch.nn.MaxPool2d):
            maps.append(x.shape[-1])
    assert maps == [27, 13, 6]  # the 27-13-6 px maps of Fig. 2, after each overlapping pool
    biases = [c.bias.unique().tolist() for c in convs]
    assert biases == [[0.0], [1.0], [0.0], [1.0], [1.0]]  # Sec. 5's initialisation


def test_small_variant_takes_28_and_32_px_images():
    model = create_model("alexnet_small")
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert create_model("alexnet_small", in_chans=3)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert create_model("alexnet_small").first_layer_filters().shape == (24, 1, 3, 3)


def test_tanh_replaces_every_relu_and_bounds_each_hidden_unit():
    model = create_model("alexnet_small", activation="tanh", in_chans=1, num_classes=10)
    kinds = {type(m) for m in model.modules()}
    assert torch.nn.Tanh in kinds and torch.nn.ReLU not in kinds
    hidden = []
    for layer in (m for m in model.modules() if isinstance(m, torch.nn.Tanh)):
        layer.register_forward_hook(lambda m, i, out: hidden.append(out))
    model(torch.randn(4, 1, 28, 28) * 100)
    assert len(hidden) == 7 and all(h.abs().max() <= 1 for h in hidden)  # 5 convolutions, 2 hidden layers
    with pytest.raises(ValueError, match="activation must be one of"):
        create_model("alexnet_small", activation="gelu")


def test_batch_norm_normalises_each_convolution_before_its_nonlinearity():
    model = create_model("alexnet_small", batch_norm=True, in_chans=1, num_classes=10).train()
    layers = list(model.features)
    convs = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and all(isinstance(layers[i + 1], torch.nn.BatchNorm2d) for i in convs)
    assert all(layers[i].bias is None for i in convs)  # BN's beta is the bias (Ioffe and Szegedy, Sec. 3.2)
    x = model.features[1](model.features[0](torch.randn(16, 1, 28, 28) * 5 + 3))
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(24), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="say paper_init=False"):
        create_model("alexnet", batch_norm=True)
