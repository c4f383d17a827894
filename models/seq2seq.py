"""RNNsearch: "Neural Machine Translation by Jointly Learning to Align and Translate", Bahdanau, Cho and
Bengio, ICLR 2015 (arXiv:1409.0473).

- Sec. 3.2: a bidirectional GRU encoder; the annotation h_j = [forward h_j ; backward h_j].
- Sec. 3.1, Eq. 4-6: p(y_i | y_<i, x) = g(y_{i-1}, s_i, c_i); s_i = f(s_{i-1}, y_{i-1}, c_i), a GRU fed the
  previous word's embedding E y_{i-1} and the context c_i = sum_j alpha_ij h_j, alpha_ij = softmax_j(e_ij),
  e_ij = a(s_{i-1}, h_j) the alignment model.
- Appendix A.1.2: a(s_{i-1}, h_j) = v_a^T tanh(W_a s_{i-1} + U_a h_j), with U_a h_j precomputed once per
  sentence; s_0 = tanh(W_s backward h_1).
- Appendix A.2.2: g is a deep output with one maxout layer: t~_i = U_o s_i + V_o E y_{i-1} + C_o c_i,
  t_i = max over pairs of t~_i, logits W_o t_i (Eq. 4's s_i; the appendix writes s_{i-1}).
- Appendix B.2: m=620 (embedding), n=1000 (hidden), n'=1000 (alignment), l=500 (maxout) for RNNsearch.

`attention="luong"` swaps the alignment model for the multiplicative "general" score of Luong, Pham and
Manning 2015 (Eq. 8), e_ij = s_{i-1}^T W_a h_j, keeping the rest of the decoder. `attention="none"` is the
paper's baseline RNNencdec (Cho et al. 2014; Sec. 4.2): every c_i is one fixed-length summary of the sentence,
c = [forward h_{T_x} ; backward h_1], the two directions' last states, whatever the decoder's state.

Shapes: src (B, S) and tgt_in (B, T) token ids, padded with `pad_id` -> logits (B, T, tgt_vocab_size).
Decoding interface (shared with models/transformer.py): `encode`, `decode_step`, `alignments`.
"""

import torch
import torch.nn as nn

from .inputs import check_source, check_tokens
from .registry import register_model


class AdditiveAttention(nn.Module):
    """Bahdanau's alignment model: e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)."""

    def __init__(self, n: int, annotation_dim: int, n_prime: int):
        super().__init__()
        self.W_a = nn.Linear(n, n_prime, bias=False)
        self.U_a = nn.Linear(annotation_dim, n_prime)
        self.v_a = nn.Linear(n_prime, 1, bias=False)

    def keys(self, h: torch.Tensor) -> torch.Tensor:
        return self.U_a(h)  # (B, S, n'), once per sentence

    def scores(self, s_prev: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.v_a(torch.tanh(self.W_a(s_prev)[:, None] + keys)).squeeze(-1)  # (B, S)


class MultiplicativeAttention(nn.Module):
    """Luong's "general" score: e_ij = s_{i-1}^T W_a h_j."""

    def __init__(self, n: int, annotation_dim: int, n_prime: int):
        super().__init__()
        self.W_a = nn.Linear(annotation_dim, n, bias=False)

    def keys(self, h: torch.Tensor) -> torch.Tensor:
        return self.W_a(h)  # (B, S, n)

    def scores(self, s_prev: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bsn,bn->bs", keys, s_prev)


class NoAttention(nn.Module):
    """RNNencdec's fixed context: no alignment model; `Seq2Seq.recur` reads the summary instead."""

    def __init__(self, n: int, annotation_dim: int, n_prime: int):
        super().__init__()


ATTENTIONS = {"bahdanau": AdditiveAttention, "luong": MultiplicativeAttention, "none": NoAttention}


class Seq2Seq(nn.Module):
    """Encoder-decoder GRUs with attention (RNNsearch).

    Args (the paper's names): src_vocab_size, tgt_vocab_size, m (embedding size), n (GRU hidden size),
        n_prime (alignment model's hidden size), l (maxout size), attention ("bahdanau", "luong", or "none":
        one fixed context, RNNencdec),
        dropout (on embeddings and the maxout output; the paper used none), pad_id.
    """

    def __init__(
        self,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        m: int = 620,
        n: int = 1000,
        n_prime: int = 1000,
        l: int = 500,  # noqa: E741 (the paper's name)
        attention: str = "bahdanau",
        dropout: float = 0.0,
        pad_id: int = 0,
    ):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention={attention!r}; use one of {sorted(ATTENTIONS)}")
        self.src_vocab_size, self.tgt_vocab_size, self.pad_id = src_vocab_size, tgt_vocab_size, pad_id
        self.src_embed = nn.Embedding(src_vocab_size, m, padding_idx=pad_id)
        self.encoder = nn.GRU(m, n, batch_first=True, bidirectional=True)
        self.W_s = nn.Linear(n, n)  # s_0 = tanh(W_s backward h_1)
        self.attention = ATTENTIONS[attention](n, 2 * n, n_prime)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, m, padding_idx=pad_id)
        self.decoder = nn.GRUCell(m + 2 * n, n)  # f(s_{i-1}, y_{i-1}, c_i)
        self.U_o, self.V_o, self.C_o = (
            nn.Linear(n, 2 * l),
            nn.Linear(m, 2 * l, bias=False),
            nn.Linear(2 * n, 2 * l, bias=False),
        )
        self.W_o = nn.Linear(l, tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor) -> dict[str, torch.Tensor]:
        """src (B, S) -> {"h": annotations (B, S, 2n), "keys": the alignment model's precomputed half,
        "src_mask": (B, S) True at real tokens, "s": s_0 (B, n)}; without attention, "summary" (B, 2n): the
        fixed context."""
        check_tokens(src, self.src_vocab_size, "src")
        check_source(src, self.pad_id)
        src_mask = src != self.pad_id
        # The model's one host sync: cuDNN's packed RNN takes the lengths on the CPU. Packing reads each sentence
        # backwards from its own last word (the paper's backward RNN); without it, a second encoder pass would.
        lengths = src_mask.sum(dim=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.src_embed(src)), lengths, batch_first=True, enforce_sorted=False
        )
        h, last = self.encoder(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=src.shape[1])
        s0 = torch.tanh(self.W_s(last[1]))  # last[1]: the backward GRU's state after reading x_1
        if isinstance(self.attention, NoAttention):  # last[0]: the forward GRU's after reading x_{T_x}
            return {"summary": torch.cat([last[0], last[1]], dim=-1), "src_mask": src_mask, "s": s0}
        return {"h": h, "keys": self.attention.keys(h), "src_mask": src_mask, "s": s0}

    def fixed_state(self) -> set[str]:
        """The entries of decode_step's state fixed per source sentence (the annotations, their keys, the mask):
        beam search does not reorder them among a sentence's hypotheses; s_i changes at every step."""
        return {"h", "keys", "src_mask", "summary"}

    def recur(self, state: dict, embedded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of the recurrence from E y_{i-1} (B, m): s_i (B, n), c_i (B, 2n) and alpha_i (B, S) (zeros
        without attention: no alignment)."""
        if "summary" in state:
            c, alpha = state["summary"], torch.zeros(state["src_mask"].shape, device=embedded.device)
        else:
            e = self.attention.scores(state["s"], state["keys"]).masked_fill(~state["src_mask"], float("-inf"))
            alpha = e.softmax(dim=-1)  # Eq. 6
            c = torch.einsum("bs,bsd->bd", alpha, state["h"])  # Eq. 5
        s = self.decoder(torch.cat([embedded, c], dim=-1), state["s"])  # Eq. 4
        return s, c, alpha

    def readout(self, embedded: torch.Tensor, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """g(y_{i-1}, s_i, c_i): the maxout deep output and W_o, for any leading dimensions -> logits (..., V).
        Outside the recurrence, so teacher forcing runs it once over all steps."""
        t = self.U_o(s) + self.V_o(embedded) + self.C_o(c)
        t = t.unflatten(-1, (-1, 2)).amax(dim=-1)  # maxout over pairs
        return self.W_o(self.dropout(t))

    def run_decoder(self, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing over tgt_in (B, T): logits (B, T, V) and alignments alpha (B, T, S)."""
        check_tokens(tgt_in, self.tgt_vocab_size, "tgt_in")
        state, embedded = self.encode(src), self.dropout(self.tgt_embed(tgt_in))
        states, contexts, alphas = [], [], []
        for i in range(tgt_in.shape[1]):
            s, c, alpha = self.recur(state, embedded[:, i])
            state = {**state, "s": s}
            states.append(s)
            contexts.append(c)
            alphas.append(alpha)
        return self.readout(embedded, torch.stack(states, dim=1), torch.stack(contexts, dim=1)), torch.stack(
            alphas, dim=1
        )

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"src_embed", "tgt_embed", "W_o"}

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.run_decoder(src, tgt_in)[0]

    def decode_step(self, state: dict, tokens: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The logits (B, V) of the token after `tokens` (B, t); the GRU state carries the rest of the prefix."""
        embedded = self.dropout(self.tgt_embed(tokens[:, -1]))
        s, c, _ = self.recur(state, embedded)
        return self.readout(embedded, s, c), {**state, "s": s}

    @torch.no_grad()
    def alignments(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """alpha_ij of Eq. 6 for each target step i and source position j: (B, T, S)."""
        return self.run_decoder(src, tgt_in)[1]


@register_model(task="translation")
def seq2seq_bahdanau(**kwargs) -> Seq2Seq:
    """RNNsearch of Appendix B.2: m=620, n=1000, n'=1000, l=500."""
    return Seq2Seq(**{"m": 620, "n": 1000, "n_prime": 1000, "l": 500, **kwargs})


@register_model(task="translation")
def seq2seq_luong(**kwargs) -> Seq2Seq:
    """RNNsearch's sizes with Luong's multiplicative "general" attention."""
    return Seq2Seq(**{"m": 620, "n": 1000, "n_prime": 1000, "l": 500, "attention": "luong", **kwargs})


@register_model(task="translation")
def seq2seq_tiny(**kwargs) -> Seq2Seq:
    """For CPU runs on the generated task: m=64, n=128, n'=128, l=128, Bahdanau attention."""
    return Seq2Seq(**{"m": 64, "n": 128, "n_prime": 128, "l": 128, **kwargs})
