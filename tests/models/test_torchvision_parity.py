"""Our image models against torchvision's: the same state dict loads strictly and gives the same outputs."""

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
    for parameter in reference.parameters():  # torchvision zero-initialises some heads: make every weight count
        parameter.data.normal_(std=0.02)
    model = create_model(ours).eval()
    load = getattr(model, "load_torchvision_state_dict", None) or (
        lambda state: model.load_state_dict(state, strict=True)
    )
    load(reference.state_dict())
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)
