"""ResNet against the paper's sizes and torchvision's implementation."""

import pytest
import torch
from landmarks.models import create_model
from landmarks.models.resnet import ResNet


@pytest.mark.parametrize(
    "name, millions",
    [("resnet20", 0.27), ("resnet32", 0.46), ("resnet44", 0.66), ("resnet56", 0.85), ("resnet110", 1.7)],
)
def test_cifar_parameter_counts_match_table_6(name, millions):
    params = sum(p.numel() for p in create_model(name).parameters())
    assert round(params / 1e6, 2 if millions < 1 else 1) == millions


def test_option_a_shortcut_zero_pads_a_strided_identity():
    model = create_model("resnet20")
    shortcut = model.layer2[0].downsample  # 16 -> 32 channels, stride 2
    x = torch.randn(2, 16, 32, 32)
    y = shortcut(x)
    assert y.shape == (2, 32, 16, 16)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert (y[:, 16:] == 0).all()
    assert not list(shortcut.parameters())


def test_feature_map_sizes_follow_the_stems():
    x = torch.randn(1, 3, 32, 32)
    cifar = create_model("resnet20")
    assert cifar.layer3(cifar.layer2(cifar.layer1(cifar.relu(cifar.bn1(cifar.conv1(x)))))).shape == (1, 64, 8, 8)
    speedrun = create_model("resnet8_speedrun", in_chans=3)
    assert speedrun.layer1(speedrun.maxpool(speedrun.conv1(x))).shape == (1, 24, 16, 16)


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="one entry per stage"):
        ResNet(block=None, layers=(1, 1), widths=(8,))
    with pytest.raises(ValueError, match="shortcut must be 'A'"):
        create_model("resnet20", shortcut="C")
    with pytest.raises(ValueError, match="stem must be one of"):
        create_model("resnet20", stem="vit")


class ZeroShortcut(torch.nn.Module):
    """A shortcut path of zeros with the block's output map size (channels broadcast)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return 0 * x[:, :1, :: self.stride, :: self.stride]


@pytest.mark.parametrize("name, kwargs", [("resnet20", {}), ("resnet8_speedrun", {"layers": (2, 1, 2)})])
def test_a_plain_net_is_the_residual_net_with_its_shortcuts_zeroed(name, kwargs):
    torch.manual_seed(0)
    residual, plain = create_model(name, **kwargs), create_model(name, plain=True, **kwargs)
    assert not any("downsample" in key for key in plain.state_dict())  # no shortcut, no projection
    plain.load_state_dict({k: v for k, v in residual.state_dict().items() if "downsample" not in k})
    x = torch.randn(2, *((3, 32, 32) if name == "resnet20" else (1, 28, 28)))
    assert not torch.allclose(residual.eval()(x), plain.eval()(x))
    for block in (m for m in residual.modules() if hasattr(m, "downsample")):
        block.downsample = ZeroShortcut(block.conv1.stride[0])
    torch.testing.assert_close(residual(x), plain(x))


def test_a_plain_net_refuses_zero_init_residual():
    with pytest.raises(ValueError, match="zero_init_residual=True would zero a plain net"):
        create_model("resnet20", plain=True, zero_init_residual=True)
