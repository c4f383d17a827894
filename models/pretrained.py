"""Pretrained weights for the models whose layout is torchvision's, the way users of torchvision and timm ask for
them: `weights="IMAGENET1K_V1"` (a name of torchvision's weights enum, downloaded and cached by torchvision), a
local file of such a state dict, or `pretrained=True` for the default weights. Every other model starts from its
paper's initialisation and says so in one line.

    model = torch.hub.load("<checkout>", "resnet50", source="local", weights="IMAGENET1K_V2")
"""

from collections.abc import Callable
from pathlib import Path

import torch.nn as nn

from .registry import _MODELS, create_model

TORCHVISION_WEIGHTS = {  # our name -> torchvision's weights enum
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
    "resnet152": "ResNet152_Weights",
    "alexnet_torchvision": "AlexNet_Weights",
    "vit_b_16": "ViT_B_16_Weights",
    "vit_b_32": "ViT_B_32_Weights",
    "vit_l_16": "ViT_L_16_Weights",
    "vit_l_32": "ViT_L_32_Weights",
    "vit_h_14": "ViT_H_14_Weights",
}


def torchvision_state_dict(name: str, weights: str) -> dict:
    """A state dict of torchvision's layout: from a local file, or torchvision's weights `name`.`weights`."""
    import torch

    if Path(weights).expanduser().is_file():
        return torch.load(Path(weights).expanduser(), map_location="cpu", weights_only=True)
    from torchvision.models import get_weight

    try:
        found = get_weight(f"{TORCHVISION_WEIGHTS[name]}.{weights}")
    except (KeyError, ValueError):
        raise ValueError(
            f"weights={weights!r}: not a file, nor one of torchvision's {TORCHVISION_WEIGHTS[name]}, e.g. "
            "IMAGENET1K_V1 or DEFAULT"
        ) from None
    return found.get_state_dict(progress=True)


def create_pretrained(name: str, weights: str | None = None, pretrained: bool = False, **kwargs) -> nn.Module:
    """`create_model(name, **kwargs)` with torchvision's weights loaded (1,000 ImageNet classes, 3 channels)."""
    if pretrained and weights is None:
        weights = "DEFAULT"
    if weights is None:
        return create_model(name, **kwargs)
    if name not in TORCHVISION_WEIGHTS:
        raise ValueError(
            f"no pretrained weights exist for {name}: it starts from its paper's initialisation; those with "
            f"torchvision's weights are {', '.join(TORCHVISION_WEIGHTS)}, and landmarks.load_run(run_dir) gives back "
            "a model you trained"
        )
    model = create_model(name, **kwargs)
    state = torchvision_state_dict(name, weights)
    (model.load_torchvision_state_dict if hasattr(model, "load_torchvision_state_dict") else model.load_state_dict)(
        state
    )
    return model


def hub_entry_point(name: str) -> Callable[..., nn.Module]:
    """The torch.hub callable of a registered model: its constructor's keyword arguments, and weights= or
    pretrained= as torchvision's take them."""

    def build(weights: str | None = None, pretrained: bool = False, **kwargs) -> nn.Module:
        return create_pretrained(name, weights, pretrained, **kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = _MODELS[name].__doc__
    return build
