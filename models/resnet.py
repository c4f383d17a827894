"""ResNet: "Deep Residual Learning for Image Recognition", He, Zhang, Ren and Sun, 2015 (arXiv:1512.03385).

- `BasicBlock`: two 3x3 convolutions with an identity shortcut, y = F(x, {W_i}) + x (Eq. 1, Fig. 5 left).
- `Bottleneck`: 1x1 reduce, 3x3, 1x1 expand by 4 (Sec. 3.3 "Deeper Bottleneck Architectures", Fig. 5 right).
- Shortcuts where the shape changes (Sec. 3.3): option "A" zero-pads the extra channels of a strided
  identity (no parameters; the CIFAR nets of Sec. 4.2), option "B" is a 1x1 projection W_s (Eq. 2).
- `ResNet`: Table 1's ImageNet layout (7x7/2 conv, 3x3/2 max pool, stages of 64-512 channels) and
  Sec. 4.2's CIFAR layout (3x3 conv, three stages of 16/32/64 channels, 6n+2 layers).
- `plain=True`: the paper's "plain" baselines (Sec. 4.1, Fig. 3 middle; Fig. 4 and 6 left), the same stacks
  without shortcuts, whose deeper nets train worse than their shallower ones (the degradation problem, Fig. 1).

Parameter names follow torchvision, so `torchvision.models.resnet50().state_dict()` loads with
strict=True. As in torchvision ("ResNet v1.5"), a Bottleneck strides in its 3x3 convolution; the
paper's released Caffe models stride in the first 1x1.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .inputs import check_image_size, check_images
from .registry import register_model


class ZeroPadShortcut(nn.Module):
    """Option A (Sec. 3.3): subsample the identity by `stride` and zero-pad the new channels."""

    def __init__(self, extra_channels: int, stride: int):
        super().__init__()
        self.extra_channels, self.stride = extra_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # pads dim 1 (channels) at the end


def make_shortcut(in_planes: int, out_planes: int, stride: int, option: str) -> nn.Module | None:
    if stride == 1 and in_planes == out_planes:
        return None  # identity, Eq. 1
    if option == "A":
        return ZeroPadShortcut(out_planes - in_planes, stride)
    return nn.Sequential(  # option B: projection W_s x, Eq. 2
        nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
    )


def shortcut_path(x: torch.Tensor, downsample: nn.Module | None) -> torch.Tensor:
    """The shortcut path: the identity x (Eq. 1), or `downsample`'s option A or B where the shape changes."""
    return x if downsample is None else downsample(x)


class BasicBlock(nn.Module):
    """Fig. 5 left: 3x3 conv, BN, ReLU, 3x3 conv, BN, add the shortcut (none if `plain`), ReLU.
    (B, C_in, H, W) -> (B, planes, H/s, W/s)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B", plain: bool = False):
        super().__init__()
        self.plain = plain
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None if plain else make_shortcut(in_planes, planes, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out if self.plain else out + shortcut_path(x, self.downsample))


class Bottleneck(nn.Module):
    """Fig. 5 right: 1x1 reduce to `planes`, 3x3, 1x1 expand to 4*planes. (B, C_in, H, W) -> (B, 4*planes, H/s, W/s)."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B", plain: bool = False):
        super().__init__()
        self.plain = plain
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None if plain else make_shortcut(in_planes, planes * self.expansion, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out if self.plain else out + shortcut_path(x, self.downsample))


class ResNet(nn.Module):
    """A stem, one stage per entry of `layers` (the first at stride 1, the others halving the map), global
    average pooling and a linear classifier.

    Args:
        block: `BasicBlock` or `Bottleneck`.
        layers: blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50 (Table 1) or (n, n, n) for 6n+2 layers (Sec. 4.2).
        widths: `planes` of each stage, e.g. (64, 128, 256, 512) or (16, 32, 64).
        stem: "imagenet" (7x7/2 conv and 3x3/2 max pool, Table 1), "cifar" (3x3 conv, Sec. 4.2),
            or "pool" (3x3 conv and 2x2/2 max pool: ours, which halves the map before the stages, for speed).
        shortcut: "A" (zero-padding) or "B" (projection) where the shape changes (Sec. 3.3).
        in_chans: input channels; num_classes: outputs of the classifier.
        zero_init_residual: start each block's last BN at gamma = 0, so every block starts as the identity
            (Goyal et al. 2017); off in the paper.
        plain: no shortcuts at all, the paper's plain baseline (Sec. 4.1).

    Shapes: (B, in_chans, H, W) -> logits (B, num_classes).
    """

    def __init__(
        self,
        *,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, ...],
        widths: tuple[int, ...],
        stem: str = "imagenet",
        shortcut: str = "B",
        in_chans: int = 3,
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        plain: bool = False,
    ):
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"layers {layers} and widths {widths} must have one entry per stage")
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' (zero-padding) or 'B' (projection), got {shortcut!r}")
        if plain and zero_init_residual:
            raise ValueError("zero_init_residual=True would zero a plain net's every block (no shortcut carries x)")
        self.in_chans, self.num_classes = in_chans, num_classes
        stems = {  # (kernel, stride, padding) of conv1, and the pooling after it
            "imagenet": ((7, 2, 3), nn.MaxPool2d(3, stride=2, padding=1)),
            "cifar": ((3, 1, 1), nn.Identity()),
            "pool": ((3, 1, 1), nn.MaxPool2d(2)),
        }
        if stem not in stems:
            raise ValueError(f"stem must be one of {sorted(stems)}, got {stem!r}")
        (kernel, stride, padding), self.maxpool = stems[stem]
        self.min_image_size = 2 if stem == "pool" else 1  # 2x2 pooling needs two pixels; the rest pads
        self.conv1 = nn.Conv2d(in_chans, widths[0], kernel, stride=stride, padding=padding, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)

        in_planes = widths[0]
        for stage, (planes, num_blocks) in enumerate(zip(widths, layers)):
            blocks = []
            for i in range(num_blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(block(in_planes, planes, stride, shortcut, plain))
                in_planes = planes * block.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He et al. 2015, "Delving Deep into Rectifiers", as Sec. 3.4 says
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.bn3.weight if isinstance(m, Bottleneck) else m.bn2.weight)

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"conv1", "fc"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_chans)
        check_image_size(x, self.min_image_size, "upsample them, or build the model with stem='cifar'")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, widths[0], H', W')
        for stage in range(self.num_stages):
            x = getattr(self, f"layer{stage + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (B, num_classes)


def _imagenet_resnet(block, layers, **kwargs) -> ResNet:
    return ResNet(**{"block": block, "layers": layers, "widths": (64, 128, 256, 512), **kwargs})


def _cifar_resnet(n: int, **kwargs) -> ResNet:
    """Sec. 4.2: 6n+2 layers, option A shortcuts, 16/32/64 channels on 32/16/8 px maps."""
    sizes = {"block": BasicBlock, "layers": (n, n, n), "widths": (16, 32, 64), "stem": "cifar", "shortcut": "A"}
    return ResNet(**{**sizes, "num_classes": 10, **kwargs})


# Table 1: the ImageNet models. Keyword arguments override any size (e.g. widths=(32, 64, 128, 256)).
@register_model(input_size=(3, 224, 224))
def resnet18(**kwargs) -> ResNet:
    return _imagenet_resnet(BasicBlock, (2, 2, 2, 2), **kwargs)


@register_model(input_size=(3, 224, 224))
def resnet34(**kwargs) -> ResNet:
    return _imagenet_resnet(BasicBlock, (3, 4, 6, 3), **kwargs)


@register_model(input_size=(3, 224, 224))
def resnet50(**kwargs) -> ResNet:
    return _imagenet_resnet(Bottleneck, (3, 4, 6, 3), **kwargs)


@register_model(input_size=(3, 224, 224))
def resnet101(**kwargs) -> ResNet:
    return _imagenet_resnet(Bottleneck, (3, 4, 23, 3), **kwargs)


@register_model(input_size=(3, 224, 224))
def resnet152(**kwargs) -> ResNet:
    return _imagenet_resnet(Bottleneck, (3, 8, 36, 3), **kwargs)


# Sec. 4.2 and Table 6: the CIFAR-10 models.
@register_model(input_size=(3, 32, 32))
def resnet20(**kwargs) -> ResNet:
    return _cifar_resnet(3, **kwargs)


@register_model(input_size=(3, 32, 32))
def resnet32(**kwargs) -> ResNet:
    return _cifar_resnet(5, **kwargs)


@register_model(input_size=(3, 32, 32))
def resnet44(**kwargs) -> ResNet:
    return _cifar_resnet(7, **kwargs)


@register_model(input_size=(3, 32, 32))
def resnet56(**kwargs) -> ResNet:
    return _cifar_resnet(9, **kwargs)


@register_model(input_size=(3, 32, 32))
def resnet110(**kwargs) -> ResNet:
    return _cifar_resnet(18, **kwargs)


# Not in the paper: the speedrun net for 28 px images (python train.py model=resnet). The "pool" stem halves
# the map before the stages, which then run at 14, 7 and 4 px with one BasicBlock each: ~4.4M multiply-adds
# per image, a tenth of ResNet-20's.
@register_model(input_size=(1, 28, 28))
def resnet8_speedrun(**kwargs) -> ResNet:
    sizes = {"block": BasicBlock, "layers": (1, 1, 1), "widths": (24, 48, 96), "stem": "pool"}
    return ResNet(**{**sizes, "num_classes": 10, "in_chans": 1, **kwargs})
