"""The import API under fuzz (hypothesis): every registered model, on batches of any valid size, gives the
documented output shape; an invalid input gives the documented error, naming the fix."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from landmarks.models import create_model, list_models

from tests.conftest import VOCAB, small

FUZZ = settings(max_examples=5, deadline=None, database=None, derandomize=True)  # the same examples on every run


def image_model(name: str) -> torch.nn.Module:
    """The registered model with 5 classes; ViTs cut to one layer so that the paper's widths run in a second."""
    torch.manual_seed(0)
    return create_model(name, num_classes=5, **({"depth": 1} if name.startswith("vit_") else {})).eval()


def sides(model: torch.nn.Module) -> st.SearchStrategy[int]:
    """Image sides the model takes: multiples of a ViT's patch size (its position embeddings interpolate),
    any side from an AlexNet's minimum, any side for a ResNet (adaptive pooling)."""
    if hasattr(model, "patch_size"):
        return st.integers(1, 4).map(lambda k: k * model.patch_size)
    low = getattr(model, "min_image_size", 1)
    return st.integers(low, low + 40)


@pytest.mark.parametrize("name", list_models("image_classification"))
def test_image_models_under_fuzz(name):
    model = image_model(name)
    channels = model.in_chans

    @FUZZ
    @given(batch=st.integers(1, 3), height=sides(model), width=sides(model), wrong_channels=st.integers(1, 4))
    def check(batch, height, width, wrong_channels):
        with torch.no_grad():
            logits = model(torch.randn(batch, channels, height, width))
            assert logits.shape == (batch, 5) and torch.isfinite(logits).all()
            bad = channels + wrong_channels
            with pytest.raises(
                ValueError,
                match=rf"expected images of shape \(B, {channels}, H, W\), got \({batch}, {bad}, .*in_chans={bad}",
            ):
                model(torch.randn(batch, bad, height, width))

    check()


@pytest.mark.parametrize("name", list_models("image_classification"))
def test_the_smallest_image_works_and_smaller_ones_name_the_fix(name):
    model = image_model(name)
    patch, low = getattr(model, "patch_size", None), getattr(model, "min_image_size", 1)
    smallest = patch or low
    with torch.no_grad():
        assert model(torch.randn(1, model.in_chans, smallest, smallest)).shape == (1, 5)
    bad_sides = st.integers(1, 4 * patch).filter(lambda side: side % patch) if patch else st.integers(1, low - 1)
    message = "is not divisible by patch_size" if patch else f"too small .* at least {low} px a side; upsample them"

    @FUZZ
    @given(side=bad_sides)
    def check(side):
        with pytest.raises(ValueError, match=message):
            model(torch.randn(1, model.in_chans, side, side))

    if smallest > 1:  # most ResNets take a single pixel: there is no smaller size to refuse
        check()


@pytest.mark.parametrize("name", list_models("translation"))
def test_sequence_models_under_fuzz(name):
    torch.manual_seed(0)
    model = small(name).eval()
    tokens = st.integers(1, VOCAB - 1)  # any id but <pad>: every source holds at least one real token

    @FUZZ
    @given(
        data=st.data(),
        batch=st.integers(1, 3),
        src_len=st.integers(1, 12),
        tgt_len=st.integers(1, 12),
        bad_id=st.sampled_from([-1, VOCAB, VOCAB + 7]),
    )
    def check(data, batch, src_len, tgt_len, bad_id):
        src = torch.tensor(
            data.draw(st.lists(st.lists(tokens, min_size=src_len, max_size=src_len), min_size=batch, max_size=batch))
        )
        tgt_in = torch.tensor(
            data.draw(st.lists(st.lists(tokens, min_size=tgt_len, max_size=tgt_len), min_size=batch, max_size=batch))
        )
        with torch.no_grad():
            logits = model(src, tgt_in)
            assert logits.shape == (batch, tgt_len, VOCAB) and torch.isfinite(logits).all()
            src[data.draw(st.integers(0, batch - 1)), data.draw(st.integers(0, src_len - 1))] = bad_id
            with pytest.raises(ValueError, match=rf"src holds token id {bad_id}, outside the vocabulary of {VOCAB}"):
                model(src, tgt_in)
            with pytest.raises(ValueError, match=r"expected tgt_in of shape \(B, N\) with N > 0"):
                model(src.clamp(1, VOCAB - 1), tgt_in[:, :0])

    check()


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@pytest.mark.parametrize("level", ["word", "char"])
def test_word_and_char_tokenizers_give_back_the_normalised_text(level):
    from landmarks.tasks.translation.tokenizers import normalize, train_tokenizer

    @FUZZ
    @given(sentences=st.lists(TEXT, min_size=1, max_size=4))
    def check(sentences):
        tokenizer = train_tokenizer([normalize(s) for s in sentences], level)  # every piece is in the vocabulary
        for sentence in sentences:
            assert tokenizer.decode(tokenizer.encode(normalize(sentence))) == normalize(sentence)

    check()


def test_the_subword_tokenizer_gives_back_any_normalised_text():
    from landmarks.tasks.translation.tokenizers import normalize, train_tokenizer

    corpus = [f"The {colour} ship number {i} sails at dawn, said Zoë." for i in range(60) for colour in ("red", "old")]
    tokenizer = train_tokenizer(corpus, "subword", vocab_size=400)

    @FUZZ
    @given(sentence=TEXT)
    def check(sentence):  # characters never seen in training come back through byte fallback
        assert tokenizer.decode(tokenizer.encode(normalize(sentence))) == normalize(sentence)

    check()


def test_length_grouped_batches_are_a_permutation_of_equal_batches():
    from landmarks.tasks.translation.data import length_grouped_batches

    @FUZZ
    @given(lengths=st.lists(st.integers(1, 50), min_size=8, max_size=200), batch_size=st.integers(1, 8))
    def check(lengths, batch_size):
        batches = length_grouped_batches(torch.tensor(lengths), batch_size, torch.Generator().manual_seed(0), pool=4)
        drawn = torch.cat(batches) if batches else torch.empty(0, dtype=torch.long)
        assert all(len(batch) == batch_size for batch in batches)
        assert len(drawn) == len(lengths) // batch_size * batch_size and len(set(drawn.tolist())) == len(drawn)

    check()
