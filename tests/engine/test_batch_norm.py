"""The narrow channels-last batch norm: PyTorch's layer to float precision, swapped in only where it pays."""

import pytest
import torch
from torch import nn

from landmarks.build import laid_out
from landmarks.engine.batch_norm import NarrowBatchNorm2d, narrow_batch_norms


def pair(channels: int, momentum: float | None) -> tuple[nn.BatchNorm2d, nn.BatchNorm2d]:
    torch.manual_seed(0)
    reference = nn.BatchNorm2d(channels, momentum=momentum)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-1, 1)
    narrow = narrow_batch_norms(nn.Sequential(nn.BatchNorm2d(channels, momentum=momentum)))[0]
    narrow.load_state_dict(reference.state_dict())
    return reference, narrow


@pytest.mark.parametrize("momentum", [0.1, None])
def test_training_steps_match_pytorch(momentum):
    reference, narrow = pair(24, momentum)
    assert type(narrow) is NarrowBatchNorm2d
    for _ in range(2):  # two steps: the running statistics and num_batches_tracked move twice
        x = (torch.randn(8, 24, 6, 5) * 3 + 1).to(memory_format=torch.channels_last)
        upstream = torch.randn(8, 24, 6, 5)  # NCHW: the backward takes a gradient in either layout
        grads = []
        for layer in (reference, narrow):
            leaf = x.clone().requires_grad_()
            out = layer(leaf)
            out.backward(upstream)
            grads.append((out, leaf.grad, layer.weight.grad, layer.bias.grad))
            layer.zero_grad()
        for ours, theirs in zip(grads[1], grads[0]):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
        assert grads[1][1].is_contiguous(memory_format=torch.channels_last)
    for name, buffer in reference.named_buffers():
        torch.testing.assert_close(narrow.get_buffer(name), buffer, msg=name)
    narrow.eval()
    reference.eval()
    torch.testing.assert_close(narrow(x), reference(x), rtol=0, atol=0)


def test_only_narrow_plain_layers_are_swapped_and_the_state_dict_is_kept():
    class Frozen(nn.BatchNorm2d):
        pass

    model = nn.Sequential(
        nn.Conv2d(1, 24, 3), nn.BatchNorm2d(24), nn.BatchNorm2d(16), nn.BatchNorm2d(64), Frozen(24),
        nn.BatchNorm2d(24, affine=False), nn.BatchNorm1d(24),
    )  # fmt: skip
    keys = list(model.state_dict())
    assert [type(m).__name__ for m in laid_out(model, channels_last=True)][1:] == [
        "NarrowBatchNorm2d", "BatchNorm2d", "BatchNorm2d", "Frozen", "BatchNorm2d", "BatchNorm1d",
    ]  # fmt: skip
    assert list(model.state_dict()) == keys
    assert type(laid_out(nn.Sequential(nn.BatchNorm2d(24)), channels_last=False)[0]) is nn.BatchNorm2d
