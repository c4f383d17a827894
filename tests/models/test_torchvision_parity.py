"""Our image models against torchvision's: the same state dict loads strictly and gives the same outputs, at
torchvision's own initialisation with BatchNorm statistics drawn at random, on inputs that the outputs depend on
(a wrong stride, a missing ReLU or a broken residual changes them by far more than the tolerance)."""

import pytest
import torch
import torchvision
from landmarks.models import create_model

CASES = [
    *((name, name, 64) for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")),
    ("alexnet_torchvision", "alexnet", 224),
    ("vit_b_16", "vit_b_16", 224),
]


@pytest.mark.parametrize("ours, theirs, size", CASES, ids=[case[0] for case in CASES])
def test_torchvision_weights_load_strictly_and_give_the_same_outputs(ours, theirs, size):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, theirs)(weights=None).eval()
    with torch.no_grad():
        for parameter in reference.parameters():
            if not parameter.any():  # ViT's head starts at zero: its outputs would not depend on the input
                parameter.normal_(std=0.02)
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):  # eval mode uses them: not the identity 0 and 1
                module.running_mean.normal_(std=0.1)
                module.running_var.uniform_(0.5, 1.5)
    model = create_model(ours).eval()
    load = getattr(model, "load_torchvision_state_dict", None) or (
        lambda state: model.load_state_dict(state, strict=True)
    )
    load(reference.state_dict())
    x, other = torch.randn(2, 3, size, size), torch.randn(2, 3, size, size)
    with torch.no_grad():
        ours_out, theirs_out = model(x), reference(x)
        scale = theirs_out.abs().max()
        torch.testing.assert_close(ours_out, theirs_out, rtol=1e-4, atol=1e-4 * scale)
        assert (reference(other) - theirs_out).abs().max() > 100 * 1e-4 * scale  # the input matters
