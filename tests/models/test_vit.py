"""The Vision Transformer against torchvision, its two attention paths, and its image-size rules."""

import pytest
import torch
import torchvision
from landmarks.models import create_model

from landmarks.tasks.image_classification.pictures import attention_rollout


def test_torchvision_mapping_is_strict():
    state = torchvision.models.vit_b_32(weights=None).state_dict()
    state["encoder.unexpected"] = torch.zeros(1)
    with pytest.raises(KeyError, match="unexpected torchvision ViT key 'encoder.unexpected'"):
        create_model("vit_b_32").load_torchvision_state_dict(state)
    del state["encoder.unexpected"], state["heads.head.bias"]
    with pytest.raises(RuntimeError, match="Missing key.*head.bias"):
        create_model("vit_b_32").load_torchvision_state_dict(state)


def test_fused_and_explicit_attention_agree():
    torch.manual_seed(0)
    model = create_model("vit_tiny_patch4").eval()
    x = torch.randn(3, 1, 28, 28)
    z = model.tokens(x)
    for block in model.blocks:
        fused, _ = block(z)
        explicit, weights = block(z, return_attention=True)
        torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 3, 50))  # each query's weights sum to one
        z = fused
    maps = model.attention_maps(x)
    assert len(maps) == 4 and maps[0].shape == (3, 3, 50, 50)
    heat = attention_rollout(maps)
    assert heat.shape == (3, 7, 7) and torch.all(heat > 0)


def test_position_embeddings_interpolate_to_another_image_size():
    torch.manual_seed(0)
    model = create_model("vit_tiny_patch4").eval()
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)  # an 8x8 grid from the trained 7x7
    wide = model.position_embedding(7, 9)
    assert wide.shape == (1, 1 + 63, 96)
    torch.testing.assert_close(model.position_embedding(7, 7), model.pos_embedding)
    torch.testing.assert_close(wide[:, 0], model.pos_embedding[:, 0])  # the class token's embedding is kept


def test_image_size_the_patch_size_does_not_divide_names_the_fix():
    model = create_model("vit_tiny_patch4")
    with pytest.raises(ValueError, match=r"image size 30x30 is not divisible by patch_size=4; resize or pad"):
        model(torch.randn(1, 1, 30, 30))
    with pytest.raises(ValueError, match=r"image_size=30 is not divisible by patch_size=4"):
        create_model("vit_tiny_patch4", image_size=30)
