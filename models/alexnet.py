"""AlexNet: "ImageNet Classification with Deep Convolutional Neural Networks", Krizhevsky, Sutskever and
Hinton, NeurIPS 2012.

- Sec. 3.1: ReLU nonlinearities (`activation="tanh"`: the saturating units they replace, Fig. 1). Sec. 3.3: local
  response normalisation after conv1 and conv2 (k=2, n=5, alpha=1e-4, beta=0.75). Sec. 3.4: overlapping max
  pooling (z=3, s=2).
- Sec. 3.5 and Fig. 2: five convolutions (96 11x11/4, 256 5x5, 384 3x3, 384 3x3, 256 3x3), conv2, conv4 and
  conv5 connected only within each GPU's half (groups=2), then three fully connected layers (4096, 4096, classes).
- Sec. 4.2: dropout 0.5 on the outputs of the first two fully connected layers. Sec. 5: weights N(0, 0.01), biases 1 in
  conv2, conv4, conv5 and the hidden fully connected layers, 0 elsewhere.

One `AlexNet` class takes the layers as data, so three variants share its code: `alexnet` (the paper's),
`alexnet_torchvision` (the one-GPU layout of Krizhevsky 2014, "One weird trick", as in torchvision, whose state
dict loads with strict=True), and `alexnet_small` (the same shape scaled down for 28-32 px images).
"""

import itertools
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .inputs import check_image_size, check_images
from .registry import register_model


class LocalResponseNorm(nn.Module):
    """Sec. 3.3: b^i = a^i / (k + alpha * sum_j (a^j)^2)^beta, the sum over the n channels centred on i
    (zero channels beyond the ends). The paper's alpha multiplies the sum itself (nn.LocalResponseNorm
    divides it by n). The window sum is a 1x1 convolution with a fixed banded 0/1 matrix and the power is
    exp(-beta log d): on CPU faster than either a channel unfold with pow or nn.LocalResponseNorm's pooling
    (measured in docs/recipes.md). The backward is the formula's derivative (`_LRN`): fewer passes over
    memory than autograd's chain of element-wise steps (the AlexNet speedrun's step on 2 CPU cores: 46 -> 39
    ms). (B, channels, H, W) -> same."""

    def __init__(self, channels: int, n: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75):
        super().__init__()
        self.n, self.k, self.alpha, self.beta = n, k, alpha, beta
        offset = torch.arange(channels)[None, :] - torch.arange(channels)[:, None]  # j - i
        window = (offset >= -(n // 2)) & (offset <= (n - 1) // 2)
        self.register_buffer("window", window.float()[:, :, None, None], persistent=False)  # (C, C, 1, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return _LRN.apply(a, self.window, self.k, self.alpha, self.beta)

    def train_flops(self, a: torch.Tensor) -> int:
        """What the window sum computes, for MFU (landmarks/engine/flops.py), not the banded matrix's C x C products:
        n multiply-adds per element forward and as many backward, as a width-n convolution would be counted."""
        return 2 * 2 * self.n * a.numel()


class _LRN(torch.autograd.Function):
    """LocalResponseNorm's formula, with d = k + alpha W a^2 and p = d^-beta (b = a p), and its derivative:
    dL/da = g p - 2 alpha beta a W^T (g b / d), W^T the window's transpose over the channels."""

    @staticmethod
    def forward(ctx, a, window, k: float, alpha: float, beta: float):
        d = F.conv2d(a.square(), window).mul_(alpha).add_(k)
        p = d.log().mul_(-beta).exp_()
        ctx.save_for_backward(a, p, d, window)
        ctx.alpha_beta = alpha * beta
        return a * p

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        a, p, d, window = ctx.saved_tensors
        per_d = g * a * p / d  # in the forward's precision: bf16 under autocast, where the window stays fp32
        spread = F.conv2d(per_d, window.transpose(0, 1).to(per_d.dtype))
        return (g * p).addcmul_(a, spread, value=-2 * ctx.alpha_beta), None, None, None, None


ACTIVATIONS = {"relu": lambda: nn.ReLU(inplace=True), "tanh": nn.Tanh}


@dataclass(frozen=True)
class ConvSpec:
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    groups: int = 1  # 2 = split across the paper's two GPUs (Sec. 3.2)
    lrn: bool = False  # local response normalisation after the ReLU (Sec. 3.3)
    pool: bool = False  # overlapping 3x3/2 max pooling after it (Sec. 3.4)
    bias_one: bool = False  # the paper's bias initialisation of 1 (Sec. 5)


def feature_map_side(side: int, convs: tuple[ConvSpec, ...]) -> int:
    """The side of the last feature map for `side` px images; 0 if a convolution or pooling runs out of pixels."""
    for spec in convs:
        side = (side + 2 * spec.padding - spec.kernel_size) // spec.stride + 1
        if spec.pool:
            side = (side - 3) // 2 + 1  # 3x3 max pooling at stride 2
        if side < 1:
            return 0
    return side


class AlexNet(nn.Module):
    """`features` (convolutions, ReLU, LRN, pooling), adaptive average pooling to `pooled_size`, and a
    `classifier` of dropout and linear layers. Shapes: (B, in_chans, H, W) -> logits (B, num_classes).

    Args:
        convs: one ConvSpec per convolution.
        hidden: widths of the hidden fully connected layers, e.g. (4096, 4096).
        pooled_size: the side of the feature map fed to the classifier (6 in the paper).
        dropout: the dropout probability on each hidden layer's output (0.5, Sec. 4.2).
        dropout_first: put the dropout on each hidden layer's input instead, as torchvision does.
        paper_init: the paper's N(0, 0.01) weights and 0/1 biases (Sec. 5); else PyTorch's defaults.
        activation: "relu" (Sec. 3.1) or "tanh", the saturating nonlinearity that ReLUs train six times faster
            than (Fig. 1).
        batch_norm: batch normalisation between each convolution and its nonlinearity (Ioffe and Szegedy 2015,
            Sec. 3.2: BN(Wu) replaces the bias, so the convolution has none); not in the paper.
    """

    def __init__(
        self,
        *,
        convs: tuple[ConvSpec, ...],
        hidden: tuple[int, ...],
        pooled_size: int = 6,
        dropout: float = 0.5,
        dropout_first: bool = False,
        in_chans: int = 3,
        num_classes: int = 1000,
        paper_init: bool = False,
        activation: str = "relu",
        batch_norm: bool = False,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if paper_init and batch_norm:
            raise ValueError(
                "batch_norm removes the conv biases that paper_init sets (Sec. 5): say paper_init=False with it"
            )
        self.in_chans, self.num_classes = in_chans, num_classes
        self.min_image_size = next(side for side in itertools.count(1) if feature_map_side(side, convs) >= 1)
        layers, channels = [], in_chans
        for spec in convs:
            conv = nn.Conv2d(
                channels,
                spec.out_channels,
                spec.kernel_size,
                spec.stride,
                spec.padding,
                groups=spec.groups,
                bias=not batch_norm,
            )
            layers += [conv, *([nn.BatchNorm2d(spec.out_channels)] if batch_norm else []), ACTIVATIONS[activation]()]
            if spec.lrn:
                layers.append(LocalResponseNorm(spec.out_channels, n=5, k=2.0, alpha=1e-4, beta=0.75))
            if spec.pool:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            channels = spec.out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(pooled_size)
        head, width = [], channels * pooled_size * pooled_size
        for out in hidden:
            layer = [nn.Linear(width, out), ACTIVATIONS[activation]()]
            head += [nn.Dropout(dropout), *layer] if dropout_first else [*layer, nn.Dropout(dropout)]
            width = out
        self.classifier = nn.Sequential(*head, nn.Linear(width, num_classes))
        if paper_init:
            self._paper_init(convs)

    def _paper_init(self, convs: tuple[ConvSpec, ...]) -> None:
        conv_layers = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linear_layers = [m for m in self.classifier if isinstance(m, nn.Linear)]
        ones = [spec.bias_one for spec in convs] + [True] * (len(linear_layers) - 1) + [False]
        for layer, bias_one in zip(conv_layers + linear_layers, ones):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 1.0 if bias_one else 0.0)

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"features.0", f"classifier.{len(self.classifier) - 1}"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_chans)
        check_image_size(x, self.min_image_size, "upsample them, or use alexnet_small for 28-32 px images")
        x = self.avgpool(self.features(x))  # (B, C, pooled_size, pooled_size)
        return self.classifier(torch.flatten(x, 1))  # (B, num_classes)

    def first_layer_filters(self) -> torch.Tensor:
        """conv1's kernels (out_channels, in_chans, k, k), for pictures like the paper's Fig. 3."""
        return self.features[0].weight.detach()


PAPER_CONVS = (  # Sec. 3.5; the padding makes 224 px inputs give the paper's 55-27-13 px maps
    ConvSpec(96, 11, stride=4, padding=2, lrn=True, pool=True),
    ConvSpec(256, 5, padding=2, groups=2, lrn=True, pool=True, bias_one=True),
    ConvSpec(384, 3, padding=1),
    ConvSpec(384, 3, padding=1, groups=2, bias_one=True),
    ConvSpec(256, 3, padding=1, groups=2, pool=True, bias_one=True),
)
TORCHVISION_CONVS = (  # one GPU, no LRN, 64-192-384-256-256 channels
    ConvSpec(64, 11, stride=4, padding=2, pool=True),
    ConvSpec(192, 5, padding=2, pool=True),
    ConvSpec(384, 3, padding=1),
    ConvSpec(256, 3, padding=1),
    ConvSpec(256, 3, padding=1, pool=True),
)


@register_model(input_size=(3, 224, 224))
def alexnet(**kwargs) -> AlexNet:
    """The paper's network (Sec. 3.5): LRN, two-GPU grouping and its initialisation; 61M parameters."""
    return AlexNet(**{"convs": PAPER_CONVS, "hidden": (4096, 4096), "paper_init": True, **kwargs})


@register_model(input_size=(3, 224, 224))
def alexnet_torchvision(**kwargs) -> AlexNet:
    """torchvision's layout and parameter names: `torchvision.models.alexnet().state_dict()` loads strictly."""
    return AlexNet(**{"convs": TORCHVISION_CONVS, "hidden": (4096, 4096), "dropout_first": True, **kwargs})


@register_model(input_size=(1, 28, 28))
def alexnet_small(**kwargs) -> AlexNet:
    """The paper's shape for 28-32 px images: 3x3 kernels at stride 1, LRN and overlapping pooling after
    conv1 and conv2 (28 -> 13 -> 6 px) and pooling after conv5 (-> 2 px), a quarter of the channels
    (24-48-64-64-48), 256-wide hidden layers: ~5M multiply-adds per image."""
    convs = (
        ConvSpec(24, 3, padding=1, lrn=True, pool=True),
        ConvSpec(48, 3, padding=1, lrn=True, pool=True),
        ConvSpec(64, 3, padding=1),
        ConvSpec(64, 3, padding=1),
        ConvSpec(48, 3, padding=1, pool=True),
    )
    return AlexNet(
        **{"convs": convs, "hidden": (256, 256), "pooled_size": 2, "num_classes": 10, "in_chans": 1, **kwargs}
    )
