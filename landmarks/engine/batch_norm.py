"""Batch norm's backward pass by its formula, for the narrow channels-last layers that PyTorch's CPU kernel is slow on.

PyTorch's CPU backward of a channels-last batch norm runs 3-6x slower than on the same maps in NCHW when a layer
has fewer than 32 channels other than 16 (torch 2.14, 2-core Intel Xeon, forward and backward of 128 maps of
28 x 28: 24 channels 11.0 ms, NCHW 3.7 ms; 16 channels 2.3 ms; docs/speedruns.md). `narrow_batch_norms` swaps
such layers of a channels-last model for `NarrowBatchNorm2d`: the same parameters and buffers, the same forward
(PyTorch's kernel), and in training on the CPU in fp32 a backward written out (Ioffe and Szegedy 2015, Sec. 3):

    dx = rstd * (dy w - mean(dy w) - x_hat * mean(dy w * x_hat))

with its per-channel sums as matrix-vector products over the (pixels, channels) rows, 4.7 ms for the 24
channels above. Elsewhere (a GPU, evaluation, bf16) the layer is nn.BatchNorm2d as it was.
"""

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def channel_sums(rows: torch.Tensor) -> torch.Tensor:
    return torch.mv(rows.t(), rows.new_ones(rows.shape[0]))


class _Formula(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum: float, eps: float):
        y, mean, rstd = torch.native_batch_norm(x, weight, bias, running_mean, running_var, True, momentum, eps)
        ctx.save_for_backward(x, weight, mean, rstd)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, weight, mean, rstd = ctx.saved_tensors
        n, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # a view: x is channels-last
        grad_rows = grad_y.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(-1, c)
        grad_bias = channel_sums(grad_rows)
        grad_weight = (channel_sums(grad_rows * rows) - mean * grad_bias) * rstd  # sum of dy * x_hat
        scale = weight * rstd
        per_x = -scale * rstd * grad_weight / rows.shape[0]  # dx = scale dy + per_x x + constant
        constant = -scale * grad_bias / rows.shape[0] - per_x * mean
        grad_rows = torch.addcmul(constant, grad_rows, scale).addcmul_(rows, per_x)
        grad_x = grad_rows.view(n, h, w, c).permute(0, 3, 1, 2)
        return grad_x, grad_weight, grad_bias, None, None, None, None


class NarrowBatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d whose training backward on a channels-last fp32 CPU map is `_Formula`'s."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cpu_fp32 = x.device.type == "cpu" and x.dtype == torch.float32
        if not (self.training and cpu_fp32 and x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        return _Formula.apply(x, self.weight, self.bias, self.running_mean, self.running_var, momentum, self.eps)


def is_narrow(module: nn.Module) -> bool:
    """A plain affine BatchNorm2d with running statistics of fewer than 32 channels, 16 excepted (measured)."""
    plain = type(module) is nn.BatchNorm2d and module.affine and module.track_running_stats
    return plain and module.num_features < 32 and module.num_features != 16


def narrow_batch_norms(model: nn.Module) -> nn.Module:
    """Swap `model`'s narrow batch norms for NarrowBatchNorm2d in place (their state dict is unchanged)."""
    for module in model.modules():
        if is_narrow(module):
            module.__class__ = NarrowBatchNorm2d
    return model
