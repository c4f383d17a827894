"""The sequence models: shapes, gradients, masks, the nn.Transformer equivalence, and decoding."""

import math

import pytest
import torch
import torch.nn as nn
from landmarks.models import create_model, list_models
from landmarks.models.attention import attention
from landmarks.models.transformer import Transformer

from landmarks.tasks.translation.decoding import beam_search, greedy_decode, lp, translate_ids
from landmarks.tasks.translation.tokenizers import BOS, EOS, PAD
from tests.conftest import VOCAB, small


def batch(lengths: list[int], generator: torch.Generator, width: int | None = None) -> torch.Tensor:
    """Random sentences of the given lengths (the last token <eos>), padded with <pad> to `width`."""
    rows = torch.full((len(lengths), width or max(lengths)), PAD)
    for i, length in enumerate(lengths):
        rows[i, : length - 1] = torch.randint(4, VOCAB, (length - 1,), generator=generator)
        rows[i, length - 1] = EOS
    return rows


@pytest.mark.parametrize("name", list_models("translation"))
def test_forward_backward(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = small(name)
    src, tgt_in = batch([5, 3], generator), batch([4, 6], generator)
    logits = model(src, tgt_in)
    assert logits.shape == (2, 6, VOCAB) and torch.isfinite(logits).all()
    logits.square().mean().backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"{name}: no gradient reaches {param_name}"


@pytest.mark.parametrize("name, millions", [("transformer_base", 65), ("transformer_big", 213)])
def test_paper_sizes_match_table_3(name, millions):
    with torch.device("meta"):  # no memory, no time
        model = create_model(name, src_vocab_size=37000, tgt_vocab_size=37000)  # the paper's shared BPE vocabulary
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / 1e6 - millions) / millions < 0.04, params


@pytest.mark.parametrize("name", ["transformer_tiny", "seq2seq_tiny"])
def test_no_attention_to_padding_or_to_the_future(name):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = small(name).eval()
    src, tgt_in = batch([4], generator), batch([6], generator)
    alone = model(src, tgt_in)
    padded_src = torch.cat([src, torch.full((1, 5), PAD)], dim=1)  # as if batched with a longer sentence
    torch.testing.assert_close(model(padded_src, tgt_in), alone, rtol=1e-5, atol=1e-5)
    assert model.alignments(padded_src, tgt_in)[..., 4:].abs().max() == 0
    changed_future = tgt_in.clone()
    changed_future[0, 3:] = torch.randint(4, VOCAB, (3,), generator=generator)
    torch.testing.assert_close(model(src, changed_future)[:, :3], alone[:, :3], rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_equals_nn_transformer_with_copied_weights(norm_first):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2)
    reference = nn.Transformer(
        d_model=32,
        nhead=4,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=64,
        dropout=0.0,
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    if not norm_first:  # nn.Transformer adds a final LayerNorm to each stack; the paper's post-norm has none
        reference.encoder.norm = reference.decoder.norm = None
    ours = Transformer(
        src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, d_model=32, N=2, h=4, d_ff=64, p_drop=0.0, norm_first=norm_first
    ).eval()
    ours.load_nn_transformer_state_dict(reference.state_dict())
    src, tgt_in = batch([5, 3], generator), batch([4, 6], generator)
    expected = reference(
        ours.embed(ours.src_embed, src),
        ours.embed(ours.tgt_embed, tgt_in),
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1]),
        src_key_padding_mask=src == PAD,
        memory_key_padding_mask=src == PAD,
    )
    torch.testing.assert_close(ours.decode(ours.encode(src), tgt_in)[0], expected, rtol=1e-5, atol=1e-5)


def test_fused_and_explicit_attention_agree_under_a_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)
    mask = torch.rand(2, 1, 5, 5) > 0.3
    mask[..., 0] = True  # every query may attend somewhere
    fused, _ = attention(q, k, v, mask)
    explicit, weights = attention(q, k, v, mask, need_weights=True)
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()


@pytest.mark.parametrize("name", ["transformer_tiny", "seq2seq_tiny"])
def test_beam_search_of_a_batch_equals_each_sentence_alone(name):
    torch.manual_seed(0)
    model = small(name).eval()
    src = batch([5, 3, 7, 2], torch.Generator().manual_seed(3))
    together = beam_search(model, src, bos=BOS, eos=EOS, max_len=12, beam_size=3, length_penalty=0.6)
    for row in range(len(src)):
        alone = beam_search(model, src[row : row + 1], bos=BOS, eos=EOS, max_len=12, beam_size=3, length_penalty=0.6)
        assert together[row, : alone.shape[1]].tolist() == alone[0].tolist()
        assert (together[row, alone.shape[1] :] == EOS).all()


@pytest.mark.parametrize("beam_size", [1, 3])
def test_a_sentence_decodes_to_its_own_length_whatever_is_decoded_beside_it(beam_size):
    """Each sentence may run to 1.5 times its own length plus 10 tokens, not its batch's padded length: an
    untrained model, which never ends a sentence, shows it."""
    torch.manual_seed(0)
    model, lengths = small("transformer_tiny").eval(), [3, 12, 5]
    src = batch(lengths, torch.Generator().manual_seed(5))
    together = translate_ids(model, src, bos=BOS, eos=EOS, pad=PAD, beam_size=beam_size)
    for row, length in enumerate(lengths):
        alone = translate_ids(model, src[row : row + 1, :length], bos=BOS, eos=EOS, pad=PAD, beam_size=beam_size)
        assert together[row, : alone.shape[1]].tolist() == alone[0].tolist()
        assert alone.shape[1] <= 1 + length * 3 // 2 + 10 and (together[row, alone.shape[1] :] == EOS).all()


@pytest.mark.parametrize("name", ["transformer_tiny", "seq2seq_tiny"])
def test_beam_search_sparing_the_fixed_state_its_copies_decodes_the_same(name):
    """fixed_state names what stays the same across a sentence's hypotheses: reordering it changes nothing."""
    torch.manual_seed(0)
    model = small(name).eval()
    everything = type("EveryEntryReordered", (), {"encode": model.encode, "decode_step": model.decode_step})()
    assert model.fixed_state() and not hasattr(everything, "fixed_state")
    src = batch([5, 3, 7, 2, 6], torch.Generator().manual_seed(4))
    spared = beam_search(model, src, bos=BOS, eos=EOS, max_len=12, beam_size=3, length_penalty=0.6)
    assert torch.equal(spared, beam_search(everything, src, bos=BOS, eos=EOS, max_len=12, beam_size=3))


class TableModel:
    """A decoder whose next-token probabilities depend on the sentence (its source's first token picks one of
    `tables`) and on the last token only. Table 0: greedy takes 4 (p = 0.3) where 5 then <eos> is likelier
    (p = 0.36). Table 1: the empty sentence (<eos> first, p = 0.2) beats every longer one, yet never ranks among
    the 2 likeliest prefixes of its step: a beam that kept finished hypotheses among its live ones loses it."""

    tables = (
        {BOS: {4: 0.6, 5: 0.4}, 4: {EOS: 0.5, 6: 0.5}, 5: {EOS: 0.9, 6: 0.1}, 6: {EOS: 1.0}},
        {BOS: {4: 0.5, 5: 0.3, EOS: 0.2}, 4: {EOS: 0.1, 4: 0.45, 5: 0.45}, 5: {EOS: 0.1, 4: 0.45, 5: 0.45}},
    )

    def encode(self, src):
        return {"table": src[:, 0]}

    def probabilities(self, table: int, last: int) -> dict[int, float]:
        return self.tables[table].get(last, {EOS: 1.0})  # <eos> (or an unlisted token) ends the sentence

    def decode_step(self, state, tokens):
        probs = torch.full((len(tokens), VOCAB), 1e-9)
        for row, (table, last) in enumerate(zip(state["table"].tolist(), tokens[:, -1].tolist())):
            for token, p in self.probabilities(table, last).items():
                probs[row, token] = p
        return probs.log(), state


def best_by_enumeration(model: TableModel, table: int, max_len: int, alpha: float) -> list[int]:
    """The sentence of highest log p / lp, by trying every one (ending in <eos> or cut at max_len)."""
    best, frontier = (float("-inf"), None), [([BOS], 0.0)]
    for length in range(1, max_len + 1):
        grown = []
        for tokens, log_p in frontier:
            for token, p in model.probabilities(table, tokens[-1]).items():
                sentence = (tokens + [token], log_p + math.log(p))
                if token == EOS or length == max_len:
                    best = max(best, (sentence[1] / lp(length, alpha), sentence[0]))
                else:
                    grown.append(sentence)
        frontier = grown
    return best[1]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_search_keeps_finished_hypotheses_apart_and_finds_the_best_sentence(alpha):
    src = torch.tensor([[0], [1]])  # one sentence of each table, decoded as one batch
    beam = beam_search(TableModel(), src, bos=BOS, eos=EOS, max_len=4, beam_size=2, length_penalty=alpha)
    greedy = greedy_decode(TableModel(), src, bos=BOS, eos=EOS, max_len=4)
    for table in (0, 1):
        expected = best_by_enumeration(TableModel(), table, max_len=4, alpha=alpha)
        assert beam[table, : len(expected)].tolist() == expected, table
    assert greedy[0, :3].tolist() == [BOS, 4, EOS] and beam[0, :3].tolist() == [BOS, 5, EOS]
    assert beam[1, :2].tolist() == [BOS, EOS]  # the empty sentence, never among the two live prefixes


@pytest.mark.parametrize("name", ["transformer_tiny", "seq2seq_tiny"])
def test_bad_token_input_names_the_fix(name):
    model = small(name)
    with pytest.raises(ValueError, match=rf"src holds token id {VOCAB}, outside the vocabulary of {VOCAB}"):
        model(torch.tensor([[4, VOCAB, EOS]]), torch.tensor([[BOS, 4]]))
    with pytest.raises(ValueError, match=r"expected src of shape \(B, N\)"):
        model(torch.tensor([4, 5, EOS]), torch.tensor([[BOS, 4]]))


def test_shared_embeddings_need_one_vocabulary():
    with pytest.raises(ValueError, match="share_embeddings=True needs one joint vocabulary.*share_embeddings=False"):
        create_model("transformer_tiny", src_vocab_size=10, tgt_vocab_size=12)
    model = create_model("transformer_tiny", src_vocab_size=10, tgt_vocab_size=10)
    assert model.generator.weight is model.src_embed.weight is model.tgt_embed.weight


@pytest.mark.parametrize("norm_first", [False, True])
def test_incremental_decoding_equals_decoding_the_whole_prefix(norm_first):
    torch.manual_seed(0)
    model = small("transformer_tiny", norm_first=norm_first).eval()
    generator = torch.Generator().manual_seed(4)
    src, tokens = batch([5, 3], generator), batch([6, 6], generator)
    state = model.encode(src)
    with torch.no_grad():
        for t in range(1, tokens.shape[1] + 1):
            logits, state = model.decode_step(state, tokens[:, :t])
            full = model.generator(model.decode(model.encode(src), tokens[:, :t])[0][:, -1])
            torch.testing.assert_close(logits, full, rtol=1e-5, atol=1e-5)
        primed, _ = model.decode_step(model.encode(src), tokens)  # no cache yet: the whole prefix at once
    torch.testing.assert_close(primed, full, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="the state has seen 6 positions but tokens holds 3"):
        model.decode_step(state, tokens[:, :3])


def test_without_attention_the_decoder_reads_only_the_sentence_summary():
    """RNNencdec (attention="none"): every step's output is a function of the summary [forward h_S; backward h_1]
    and the decoder's own state; the annotations of the words between do not reach it."""
    torch.manual_seed(0)
    model = create_model("seq2seq_tiny", src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, attention="none").eval()
    src, tokens = torch.randint(4, VOCAB, (3, 9)), torch.full((3, 1), BOS)
    state = model.encode(src)
    assert set(state) == {"summary", "src_mask", "s"} and state["summary"].shape == (3, 2 * 128)
    logits, _ = model.decode_step(state, tokens)
    changed, _ = model.decode_step({**state, "summary": torch.randn_like(state["summary"])}, tokens)
    assert not torch.allclose(logits, changed)
    encoder_out, _ = model.encoder(model.src_embed(src))
    torch.testing.assert_close(state["summary"], torch.cat([encoder_out[:, -1, :128], encoder_out[:, 0, 128:]], -1))
    assert not any("attention" in name for name, _ in model.named_parameters())
