"""Exact parameter counts of every registered paper size: a missing block or layer changes them by thousands,
which the rounded counts of the papers would let through. Sizes with a reference implementation are compared with
it (torchvision); the others are pinned to the counts the literature gives exactly (GPT-2's are in test_gpt.py)."""

import pytest
import torch
import torchvision
from landmarks.models import create_model


def count(module_or_factory) -> int:
    with torch.device("meta"):  # no memory, no initialisation: the 632M-parameter ViT-H counts in a moment
        module = module_or_factory()
    return sum(parameter.numel() for parameter in module.parameters())


TORCHVISION = [
    *((name, name) for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")),
    ("alexnet_torchvision", "alexnet"),
    *((name, name) for name in ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14")),
]


@pytest.mark.parametrize("ours, theirs", TORCHVISION, ids=[ours for ours, _ in TORCHVISION])
def test_a_size_with_a_reference_has_its_exact_parameter_count(ours, theirs):
    assert count(lambda: create_model(ours)) == count(getattr(torchvision.models, theirs))


PINNED = {  # name, constructor arguments: the exact count, and where it comes from
    ("resnet20", "num_classes=10"): 269_722,  # He et al. 2015, Table 6 "0.27M"; option A shortcuts have no weights
    ("resnet32", "num_classes=10"): 464_154,  # "0.46M"
    ("resnet44", "num_classes=10"): 658_586,  # "0.66M"
    ("resnet56", "num_classes=10"): 853_018,  # "0.85M"
    ("resnet110", "num_classes=10"): 1_727_962,  # "1.7M"
    ("alexnet", ""): 60_965_224,  # Krizhevsky et al. 2012, "60 million parameters", two towers, 1000 classes
    ("airbench94", "num_classes=10"): 1_972_792,  # airbench94.py's network, 1.97M
    ("transformer_base", "vocab=37000"): 63_082_496,  # Table 3's base model (65M) with one shared 37,000-piece vocab
    ("transformer_big", "vocab=37000"): 214_245_376,  # Table 3's big model (213M)
    ("seq2seq_bahdanau", "vocab=30000"): 80_452_000,  # RNNsearch, App. B.2 sizes, 30,000 words a language
}


@pytest.mark.parametrize("name, arguments", list(PINNED), ids=[name for name, _ in PINNED])
def test_a_paper_size_has_its_exact_parameter_count(name, arguments):
    kwargs = {"num_classes": 10} if arguments == "num_classes=10" else {}
    if arguments.startswith("vocab="):
        vocab = int(arguments.removeprefix("vocab="))
        kwargs = {"src_vocab_size": vocab, "tgt_vocab_size": vocab}
    assert count(lambda: create_model(name, **kwargs)) == PINNED[name, arguments]
