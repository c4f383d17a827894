"""BERT (models/bert.py) against Hugging Face's BERT: equal logits with padding, exact sizes, every head."""

import pytest
import torch
import transformers
from landmarks.models import create_model
from landmarks.models.bert import Bert, load_hf_bert_state_dict

SMALL = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4}
SMALL |= {"intermediate_size": 37, "max_position_embeddings": 40, "type_vocab_size": 2}


def ours_like(config: transformers.BertConfig, **heads) -> Bert:
    sizes = {"L": config.num_hidden_layers, "H": config.hidden_size, "A": config.num_attention_heads}
    sizes |= {"intermediate": config.intermediate_size, "max_position": config.max_position_embeddings}
    return Bert(vocab_size=config.vocab_size, type_vocab_size=config.type_vocab_size, **sizes, **heads)


def batch(vocab_size: int):
    """Two sequences, the second padded after 9 tokens; two segments."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1, vocab_size, (2, 16), generator=generator)
    attention_mask = torch.ones(2, 16, dtype=torch.long)
    attention_mask[1, 9:] = 0
    input_ids[1, 9:] = 0
    segment_ids = (torch.arange(16) >= 6).long().expand(2, -1)
    return input_ids, segment_ids, attention_mask


@pytest.mark.parametrize(
    "reference, heads, output",
    [
        ("BertForMaskedLM", {}, lambda out: out.logits),
        (
            "BertForPreTraining",
            {"next_sentence": True},
            lambda out: (out.prediction_logits, out.seq_relationship_logits),
        ),
        ("BertForSequenceClassification", {"masked_lm": False, "num_labels": 3}, lambda out: out.logits),
    ],
)
def test_logits_equal_hugging_faces_with_padding(reference, heads, output):
    torch.manual_seed(0)
    config = transformers.BertConfig(**SMALL, num_labels=3, hidden_act="gelu", attn_implementation="eager")
    theirs = getattr(transformers, reference)(config).eval()
    ours = ours_like(config, **heads).eval()
    load_hf_bert_state_dict(ours, theirs.state_dict())
    input_ids, segment_ids, attention_mask = batch(config.vocab_size)
    with torch.no_grad():
        expected = output(theirs(input_ids=input_ids, token_type_ids=segment_ids, attention_mask=attention_mask))
        got = ours(input_ids, segment_ids, attention_mask)
        if heads.get("next_sentence"):
            got = (got, ours.next_sentence_logits(input_ids, segment_ids, attention_mask))
    for e, g in zip(
        expected if isinstance(expected, tuple) else (expected,), got if isinstance(got, tuple) else (got,)
    ):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5)
    other = input_ids.roll(1, dims=1)  # the input matters: a wrong mask or position would still pass otherwise
    with torch.no_grad():
        assert (
            ours(other, segment_ids, attention_mask) - ours(input_ids, segment_ids, attention_mask)
        ).abs().max() > 1e-2


def test_padding_changes_nothing_at_the_real_tokens():
    torch.manual_seed(0)
    model = create_model("bert_tiny", vocab_size=50).eval()
    input_ids, segment_ids, _ = batch(50)
    short = input_ids[:1, :9]
    padded = torch.cat([short, torch.zeros(1, 7, dtype=torch.long)], dim=1)
    mask = torch.zeros(1, 16, dtype=torch.bool)
    mask[0, :9] = True
    with torch.no_grad():
        torch.testing.assert_close(model(padded, attention_mask=mask)[:, :9], model(short), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "name, config",
    [
        ("bert_base", {}),
        (
            "bert_large",
            {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
        ),
    ],
)
def test_paper_sizes_have_hugging_faces_exact_parameter_counts(name, config):
    with torch.device("meta"):
        ours = create_model(name, next_sentence=True)
        theirs = transformers.BertForPreTraining(transformers.BertConfig(**config))
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(ours) == count(theirs)  # 110M and 340M (Sec. 3) with both pre-training heads
    assert {name for name, _ in ours.mlm.named_parameters()} == {
        "dense.weight",
        "dense.bias",
        "norm.weight",
        "norm.bias",
        "bias",
    }  # the decoder is the tied embedding


def test_gradients_reach_every_parameter_of_every_head():
    torch.manual_seed(0)
    model = create_model("bert_tiny", vocab_size=50, next_sentence=True, num_labels=4)
    input_ids, segment_ids, attention_mask = batch(50)
    loss = model(input_ids, segment_ids, attention_mask).square().mean()
    loss = loss + model.next_sentence_logits(input_ids, segment_ids, attention_mask).square().mean()
    (loss + model.classify(input_ids, segment_ids, attention_mask).square().mean()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bad_input_names_the_fix():
    model = create_model("bert_tiny", vocab_size=50, max_position=16)
    with pytest.raises(ValueError, match="token id 50, outside the vocabulary of 50"):
        model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="17 tokens exceed max_position=16"):
        model(torch.ones(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="no classifier; build it with num_labels > 0"):
        model.classify(torch.ones(1, 4, dtype=torch.long))
