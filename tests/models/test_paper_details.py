"""Details where the papers and common implementations part ways, each pinned to the paper (or its reference
code): where dropout sits in AlexNet, ViT and the Transformer, what ViT's weight decay skips, and the clear
error for a source of padding only."""

import pytest
import torch
from landmarks.models import create_model

from landmarks.engine.optimizers import build_optimizer
from landmarks.engine.optimizers.adamw import AdamWConfig
from landmarks.tasks.translation.tokenizers import PAD
from tests.conftest import small


def layer_types(module: torch.nn.Module) -> list[str]:
    return [type(layer).__name__ for layer in module]


def test_alexnet_drops_the_outputs_of_fc6_and_fc7_as_sec_4_2_says_and_torchvision_drops_their_inputs():
    assert layer_types(create_model("alexnet_small").classifier) == [
        *("Linear", "ReLU", "Dropout") * 2,
        "Linear",
    ]
    assert layer_types(create_model("alexnet_torchvision").classifier) == [
        *("Dropout", "Linear", "ReLU") * 2,
        "Linear",
    ]
    model, seen = create_model("alexnet_small").train(), []
    model.classifier[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.rand(4, 1, 28, 28)
    model(x)
    torch.testing.assert_close(seen[0], torch.flatten(model.avgpool(model.features(x)), 1))  # fc6 sees all


def test_vit_drops_the_attention_output_and_not_the_attention_weights_as_the_reference_code():
    torch.manual_seed(0)
    model = create_model("vit_tiny_patch7", dropout=0.5).train()
    block, seen = model.blocks[0], []
    z = torch.randn(2, 17, block.norm1.normalized_shape[0])
    torch.testing.assert_close(block.attn(z)[0], block.attn(z)[0])  # no dropout on the weights in training
    block.dropout.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output)))
    block(z)
    attended, dropped = seen[0]
    torch.testing.assert_close(attended, block.attn(block.norm1(z))[0])  # the dropout acts on MSA's output
    assert 0.3 < (dropped == 0).float().mean() < 0.7


def test_vit_class_token_and_position_embeddings_get_no_weight_decay():
    model = create_model("vit_tiny_patch7")
    optim = AdamWConfig(name="adamw", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    decay, no_decay = build_optimizer(optim, model, torch.device("cpu")).param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    exempt = {id(p) for p in no_decay["params"]}
    assert id(model.cls_token) in exempt and id(model.pos_embedding) in exempt
    assert id(model.patch_embed.proj.weight) not in exempt and id(model.blocks[0].attn.qkv.weight) not in exempt


def test_transformer_feed_forward_has_no_dropout_inside_as_sec_5_4_lists_none():
    model = small("transformer_tiny", p_drop=0.5).train()
    x = torch.randn(2, 5, model.d_model)
    for layer in [*model.encoder, *model.decoder]:
        torch.testing.assert_close(layer.ffn(x), layer.ffn(x))
    assert not any(isinstance(m, torch.nn.Dropout) for layer in model.encoder for m in layer.ffn.modules())


@pytest.mark.parametrize("name", ["transformer_tiny", "seq2seq_tiny"])
def test_a_source_of_padding_only_is_a_clear_error_not_nan(name):
    src = torch.tensor([[5, 6, 2], [PAD, PAD, PAD]])
    with pytest.raises(ValueError, match=r"src\[1\] is padding only \(pad_id=0\).*at least one token"):
        small(name)(src, torch.tensor([[1, 4], [1, 4]]))
