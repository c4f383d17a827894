"""AlexNet against the paper's description and torchvision's implementation."""

import pytest
import torch
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
