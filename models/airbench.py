"""airbench: "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", Keller Jordan, 2024 (arXiv:2404.00498), Sec. 3.

The network of airbench94 (Sec. 3), a VGG-like stack:

- a 2x2 convolution without padding whose filters are frozen at a whitening of the training images' 2x2
  patches (frozen patch-whitening initialisation, after Page 2019): the eigenvectors of the patches'
  covariance scaled by 1/sqrt(eigenvalue + eps), and their negatives, so that the GELU after it passes both
  signs; `init_whitening(images)` sets them from data (the loop does it through the task) and only the bias trains;
- three ConvGroups of widths (block1, block2, block3) = (64, 256, 256): conv 3x3, max pool 2, BatchNorm, GELU,
  conv 3x3, BatchNorm, GELU. BatchNorm's scale is frozen at 1, only its bias learns, with a running-statistics
  momentum of 0.6 in airbench's convention (PyTorch's momentum 0.4) and eps 1e-12;
- identity initialisation: each convolution's first in_channels filters start as the identity (dirac);
- a global max pool, a linear classifier without bias and the logits scaled by `scaling_factor` = 1/9.

The optimizer details of the paper (Nesterov SGD, BatchNorm biases at 64x the learning rate, label smoothing
0.2, lookahead, multi-crop test-time augmentation) are the training recipe's, not the model's
(configs/recipe/airbench_fashion_mnist.yaml, docs/record_fashion_mnist.md).

Shapes: (B, in_chans, H, W) -> logits (B, num_classes), for H, W >= 9 (three 2x2 pools after the 2x2 conv).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .inputs import check_image_size, check_images
from .registry import register_model


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm with its scale frozen at 1: only the bias (shift) trains."""

    def __init__(self, num_features: int, batchnorm_momentum: float):
        super().__init__(num_features, eps=1e-12, momentum=1 - batchnorm_momentum)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    """A 3x3 convolution ("same" padding, no bias) whose first in_channels filters start as the identity."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 3, padding="same", bias=False)
        nn.init.dirac_(self.weight.data[:in_channels])


class ConvGroup(nn.Module):
    """conv, max pool 2, BN, GELU, conv, BN, GELU: (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, channels_in: int, channels_out: int, batchnorm_momentum: float):
        super().__init__()
        self.conv1 = Conv(channels_in, channels_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(channels_out, batchnorm_momentum)
        self.conv2 = Conv(channels_out, channels_out)
        self.norm2 = BatchNorm(channels_out, batchnorm_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        return F.gelu(self.norm2(self.conv2(x)))


class AirbenchNet(nn.Module):
    """Args:
    widths: channels of the three ConvGroups (block1, block2, block3).
    whiten_kernel_size: the whitening filters' size (2); the layer has 2 * in_chans * size^2 filters.
    whitening: False trains that layer as an ordinary convolution from a random start (the ablation).
    batchnorm_momentum: weight of the old running statistics (airbench's convention; 0.6).
    scaling_factor: multiplies the logits (1/9).
    """

    def __init__(
        self,
        *,
        widths: tuple[int, int, int] = (64, 256, 256),
        whiten_kernel_size: int = 2,
        whitening: bool = True,
        batchnorm_momentum: float = 0.6,
        scaling_factor: float = 1 / 9,
        in_chans: int = 3,
        num_classes: int = 10,
    ):
        super().__init__()
        if len(widths) != 3:
            raise ValueError(f"widths must give the three ConvGroups' channels, got {widths}")
        self.in_chans, self.num_classes, self.scaling_factor = in_chans, num_classes, scaling_factor
        whiten_width = 2 * in_chans * whiten_kernel_size**2
        self.whitening = whitening
        self.whiten = nn.Conv2d(in_chans, whiten_width, whiten_kernel_size, bias=True)
        self.whiten.weight.requires_grad = not whitening
        nn.init.zeros_(self.whiten.bias)
        channels = (whiten_width, *widths)
        self.layers = nn.Sequential(*(ConvGroup(a, b, batchnorm_momentum) for a, b in zip(channels, channels[1:])))
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.min_image_size = whiten_kernel_size + 7  # three 2x2 pools need 8 px after the unpadded conv

    @torch.no_grad()
    def init_whitening(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the frozen first layer from normalised training images (N, C, H, W): each filter is an eigenvector
        of the covariance of their k x k patches over 1/sqrt(eigenvalue + eps), in both signs. Nothing without
        whitening."""
        if not self.whitening:
            return
        check_images(images, self.in_chans)
        c, k = self.in_chans, self.whiten.kernel_size[0]
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
        eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        filters = (eigenvectors.T / torch.sqrt(eigenvalues + eps)[:, None]).flip(0).reshape(-1, c, k, k)
        self.whiten.weight.copy_(torch.cat((filters, -filters)))

    def first_layer_filters(self) -> torch.Tensor:
        """The whitening filters (2 C k^2, C, k, k), for TensorBoard."""
        return self.whiten.weight.detach()

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"whiten", "head"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, self.in_chans)
        check_image_size(x, self.min_image_size, "upsample them, e.g. data.image_size=28")
        x = self.layers(F.gelu(self.whiten(x)))
        return self.head(x.amax(dim=(2, 3))) * self.scaling_factor


@register_model(input_size=(3, 32, 32))
def airbench94(**kwargs) -> AirbenchNet:
    """airbench94's network (1.97M parameters on CIFAR-10)."""
    return AirbenchNet(**{"widths": (64, 256, 256), **kwargs})


# Not in the paper: the record net for 28 px grey images (experiment=record_fashion_mnist), a quarter of
# airbench94's widths in its second and third groups (0.29M parameters, ~12M multiply-adds per image).
@register_model(input_size=(1, 28, 28))
def airbench_tiny(**kwargs) -> AirbenchNet:
    return AirbenchNet(**{"widths": (32, 64, 128), "in_chans": 1, **kwargs})
