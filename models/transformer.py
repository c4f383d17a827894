"""Transformer: "Attention Is All You Need", Vaswani et al., NeurIPS 2017.

- Sec. 3.1, Fig. 1: encoder and decoder stacks of N layers; each sub-layer's output is
  LayerNorm(x + Sublayer(x)) (post-norm). `norm_first=True` gives the pre-norm variant
  x + Sublayer(LayerNorm(x)) (Xiong et al. 2020) with a final LayerNorm after each stack.
- Sec. 3.2.1-3.2.3, Eq. 1: scaled dot-product and multi-head attention with projections W^Q, W^K, W^V, W^O;
  the decoder's self-attention masks future positions; no query attends to padding.
- Sec. 3.3, Eq. 2: position-wise FFN(x) = max(0, x W_1 + b_1) W_2 + b_2.
- Sec. 3.4: one weight matrix shared by both embeddings and the pre-softmax projection (a joint vocabulary),
  embeddings multiplied by sqrt(d_model). Sec. 3.5: sinusoidal positional encoding.
- Sec. 5.4: residual dropout P_drop on each sub-layer's output and on the embedding sums; label smoothing
  0.1 is the task's (`trainer.label_smoothing`); Eq. 3's learning rate is `optim.schedule=inverse_sqrt`.
- Table 3: base (N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1) and big (N=6, 1024, 4096, 16, 0.3).

Shapes: src (B, S) and tgt_in (B, T) token ids, padded with `pad_id` -> logits (B, T, tgt_vocab_size).
The decoding interface shared with models/seq2seq.py: `encode(src) -> state`, `decode_step(state, tokens)
-> (logits of the next token (B, V), state)`, `alignments(src, tgt_in) -> (B, T, S)`.
`decode_step` is incremental (the decoder's self-attention inputs are cached in the state).
`load_nn_transformer_state_dict()` takes the weights of a `torch.nn.Transformer` of the same size.
"""

import math

import torch
import torch.nn as nn
from einops import rearrange

from .attention import attention
from .inputs import check_source, check_tokens
from .registry import register_model


def sinusoidal_encoding(length: int, d_model: int, device=None, start: int = 0) -> torch.Tensor:
    """Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(...) for positions
    start .. start + length - 1; shape (length, d_model)."""
    position = torch.arange(start, start + length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d_model, 2, device=device) * (-math.log(10000.0) / d_model))
    encoding = torch.zeros(length, d_model, device=device)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)
    return encoding


class MultiHeadAttention(nn.Module):
    """Sec. 3.2.2: MultiHead(Q, K, V) = Concat(head_1..head_h) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V).
    query (B, N_q, d_model), key_value (B, N_k, d_model) -> (B, N_q, d_model), the weights (B, h, N_q, N_k)
    when asked, and the keys and values (B, h, N_k, d_k). For incremental decoding, `past` holds keys and
    values computed before: key_value's are appended to them, or with key_value None they are used as they are."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        self.heads = heads
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(d_model, d_model) for _ in range(4))

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "b n (h d) -> b h n d", h=self.heads)

    def forward(self, query, key_value, mask=None, need_weights: bool = False, past: tuple | None = None):
        k, v = past if past is not None else (None, None)
        if key_value is not None:
            new_k, new_v = self.split_heads(self.w_k(key_value)), self.split_heads(self.w_v(key_value))
            k, v = (new_k, new_v) if past is None else (torch.cat([k, new_k], dim=2), torch.cat([v, new_v], dim=2))
        out, weights = attention(self.split_heads(self.w_q(query)), k, v, mask, need_weights=need_weights)
        return self.w_o(rearrange(out, "b h n d -> b n (h d)")), weights, (k, v)


class FeedForward(nn.Sequential):
    """Eq. 2: max(0, x W_1 + b_1) W_2 + b_2, inner size d_ff. No dropout inside: Sec. 5.4 lists only the
    residual and embedding dropout (tensor2tensor's relu_dropout, which nn.Transformer copies, is not in it)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))


class Residual(nn.Module):
    """Sec. 5.4: LayerNorm(x + Dropout(Sublayer(x))), or x + Dropout(Sublayer(LayerNorm(x))) with norm_first."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool):
        super().__init__()
        self.norm, self.dropout, self.norm_first = nn.LayerNorm(d_model), nn.Dropout(dropout), norm_first

    def forward(self, x: torch.Tensor, sublayer) -> torch.Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm_first: bool):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads)
        self.ffn = FeedForward(d_model, d_ff)
        self.residual1, self.residual2 = (Residual(d_model, dropout, norm_first) for _ in range(2))

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        x = self.residual1(x, lambda y: self.self_attn(y, y, src_mask)[0])
        return self.residual2(x, self.ffn)


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm_first: bool):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads)
        self.cross_attn = MultiHeadAttention(d_model, heads)  # "encoder-decoder attention"
        self.ffn = FeedForward(d_model, d_ff)
        self.residual1, self.residual2, self.residual3 = (Residual(d_model, dropout, norm_first) for _ in range(3))

    def forward(self, y, memory, tgt_mask, src_mask, need_weights: bool = False, cache: dict | None = None):
        """Returns y, the cross-attention weights (B, h, T, S) with need_weights, and the keys and values of
        both attentions ({"self": (k, v), "memory": (k, v)}). For incremental decoding, `cache` holds those of
        the earlier positions and of the memory, and y the new positions only, which attend to the earlier
        ones and to themselves as tgt_mask (new, earlier + new) says."""
        cache, kept, weights = cache or {}, {}, []

        def self_attend(z):
            out, _, kept["self"] = self.self_attn(z, z, tgt_mask, past=cache.get("self"))
            return out

        def cross(z):
            out, w, kept["memory"] = self.cross_attn(
                z, None if "memory" in cache else memory, src_mask, need_weights, past=cache.get("memory")
            )
            weights.append(w)
            return out

        y = self.residual1(y, self_attend)
        y = self.residual2(y, cross)
        return self.residual3(y, self.ffn), weights[0], kept


class Transformer(nn.Module):
    """The encoder-decoder Transformer (Fig. 1).

    Args (the paper's names): src_vocab_size, tgt_vocab_size, d_model, N (layers per stack), h (heads),
        d_ff, p_drop (P_drop), norm_first (pre-norm instead of the paper's post-norm),
        share_embeddings (Sec. 3.4; needs src_vocab_size == tgt_vocab_size), pad_id.
    """

    def __init__(
        self,
        *,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 512,
        N: int = 6,
        h: int = 8,
        d_ff: int = 2048,
        p_drop: float = 0.1,
        norm_first: bool = False,
        share_embeddings: bool = True,
        pad_id: int = 0,
    ):
        super().__init__()
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(
                f"share_embeddings=True needs one joint vocabulary, got src_vocab_size={src_vocab_size} and "
                f"tgt_vocab_size={tgt_vocab_size}; pass share_embeddings=False for separate vocabularies"
            )
        self.d_model, self.pad_id = d_model, pad_id
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.src_embed = nn.Embedding(src_vocab_size, d_model)
        self.tgt_embed = self.src_embed if share_embeddings else nn.Embedding(tgt_vocab_size, d_model)
        self.dropout = nn.Dropout(p_drop)
        self.encoder = nn.ModuleList(EncoderLayer(d_model, h, d_ff, p_drop, norm_first) for _ in range(N))
        self.decoder = nn.ModuleList(DecoderLayer(d_model, h, d_ff, p_drop, norm_first) for _ in range(N))
        self.encoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.generator = nn.Linear(d_model, tgt_vocab_size, bias=False)  # the pre-softmax projection
        self._init_weights()
        if share_embeddings:
            self.generator.weight = self.tgt_embed.weight

    def _init_weights(self) -> None:
        """Xavier-uniform matrices; embeddings N(0, d_model^-0.5),
        so that scaled by sqrt(d_model) they have unit variance."""
        for name, param in self.named_parameters():
            if name.endswith("embed.weight"):
                nn.init.normal_(param, std=self.d_model**-0.5)
            elif param.ndim > 1:
                nn.init.xavier_uniform_(param)

    def embed(self, embedding: nn.Embedding, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Sec. 3.4-3.5: E x sqrt(d_model) + PE (positions from `start`), then dropout. (B, N) -> (B, N, d_model)."""
        x = embedding(tokens) * math.sqrt(self.d_model)
        return self.dropout(x + sinusoidal_encoding(tokens.shape[1], self.d_model, tokens.device, start))

    def encode(self, src: torch.Tensor) -> dict[str, torch.Tensor]:
        """src (B, S) -> {"memory": (B, S, d_model), "src_mask": (B, 1, 1, S), True at real tokens}."""
        check_tokens(src, self.src_vocab_size, "src")
        check_source(src, self.pad_id)
        src_mask = (src != self.pad_id)[:, None, None, :]
        x = self.embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, src_mask)
        return {"memory": self.encoder_norm(x), "src_mask": src_mask}

    def decode(self, state: dict, tgt_in: torch.Tensor, need_weights: bool = False):
        """tgt_in (B, T) -> decoder output (B, T, d_model) and, with need_weights, the last layer's
        cross-attention weights (B, h, T, S)."""
        check_tokens(tgt_in, self.tgt_vocab_size, "tgt_in")
        length = tgt_in.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=tgt_in.device).tril()  # Sec. 3.2.3
        y, weights = self.embed(self.tgt_embed, tgt_in), None
        for layer in self.decoder:
            y, weights, _ = layer(y, state["memory"], causal, state["src_mask"], need_weights)
        return self.decoder_norm(y), weights

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"src_embed", "generator"} | ({"tgt_embed"} if self.tgt_embed is not self.src_embed else set())

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (B, T, tgt_vocab_size) of each next target token."""
        return self.generator(self.decode(self.encode(src), tgt_in)[0])

    def fixed_state(self) -> set[str]:
        """The entries of decode_step's state fixed per source sentence (the memory, its mask and each layer's
        keys and values of it): beam search does not reorder them among a sentence's hypotheses."""
        return {"memory", "src_mask"} | {f"memory_{kv}_{i}" for kv in "kv" for i in range(len(self.decoder))}

    def decode_step(self, state: dict, tokens: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The logits (B, V) of the token after `tokens` (B, t). Incremental: each decoder layer's keys and
        values, of the positions already seen (the causal mask makes them final) and of the memory, wait in
        the returned state, so passing it back computes only the new positions. Equal to decode() (tested)."""
        check_tokens(tokens, self.tgt_vocab_size, "tokens")
        seen = state["self_k_0"].shape[2] if "self_k_0" in state else 0
        new = tokens.shape[1] - seen
        if new < 1:
            raise ValueError(
                f"the state has seen {seen} positions but tokens holds {tokens.shape[1]}; pass the tokens so far"
            )
        mask = torch.ones(new, seen + new, dtype=torch.bool, device=tokens.device).tril(diagonal=seen)
        y, state = self.embed(self.tgt_embed, tokens[:, seen:], start=seen), dict(state)
        for i, layer in enumerate(self.decoder):
            cache = {
                kind: (state[f"{kind}_k_{i}"], state[f"{kind}_v_{i}"])
                for kind in ("self", "memory")
                if f"{kind}_k_{i}" in state
            }
            y, _, kept = layer(y, state["memory"], mask, state["src_mask"], cache=cache)
            for kind, (k, v) in kept.items():
                state[f"{kind}_k_{i}"], state[f"{kind}_v_{i}"] = k, v
        return self.generator(self.decoder_norm(y)[:, -1]), state

    @torch.no_grad()
    def alignments(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """The last decoder layer's cross-attention, averaged over heads: (B, T, S)."""
        return self.decode(self.encode(src), tgt_in, need_weights=True)[1].mean(dim=1)

    def load_nn_transformer_state_dict(self, state_dict: dict) -> None:
        """Load the stacks' weights from a `torch.nn.Transformer` of the same size (embeddings and generator are
        not part of it and keep their values). nn.MultiheadAttention packs W^Q, W^K, W^V into one in_proj;
        its final encoder and decoder LayerNorms exist only in our pre-norm variant (post-norm needs none)."""
        mapped = {}
        for key, value in state_dict.items():
            stack, *rest = key.split(".")
            if rest[0] == "norm":
                mapped[f"{stack}_norm.{rest[-1]}"] = value
                continue
            layer, module, kind = rest[1], rest[2], rest[-1]  # e.g. layers.0.self_attn.in_proj_weight
            prefix = f"{stack}.{layer}"
            attn = {"self_attn": "self_attn", "multihead_attn": "cross_attn"}.get(module)
            if attn and rest[3].startswith("in_proj"):
                for name, chunk in zip(("w_q", "w_k", "w_v"), value.chunk(3)):
                    mapped[f"{prefix}.{attn}.{name}.{rest[3].removeprefix('in_proj_')}"] = chunk
            elif attn:  # out_proj
                mapped[f"{prefix}.{attn}.w_o.{kind}"] = value
            elif module in ("linear1", "linear2"):
                mapped[f"{prefix}.ffn.{0 if module == 'linear1' else 2}.{kind}"] = value
            elif module in ("norm1", "norm2", "norm3"):
                mapped[f"{prefix}.residual{module[-1]}.norm.{kind}"] = value
            else:
                raise KeyError(f"unexpected nn.Transformer key {key!r}")
        own = {k for k in self.state_dict() if not k.startswith(("src_embed", "tgt_embed", "generator"))}
        if set(mapped) != own:
            raise KeyError(
                f"nn.Transformer weights do not match this model: missing {sorted(own - set(mapped))}, "
                f"unexpected {sorted(set(mapped) - own)}"
            )
        self.load_state_dict(mapped, strict=False)


def _transformer(sizes: tuple[int, int, int, int, float], **kwargs) -> Transformer:
    """sizes = Table 3's (N, d_model, d_ff, h, P_drop); keyword arguments override any of them."""
    return Transformer(**{**dict(zip(("N", "d_model", "d_ff", "h", "p_drop"), sizes)), **kwargs})


@register_model(task="translation")
def transformer_base(**kwargs) -> Transformer:
    """Table 3, base: N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1 (65M parameters on a 37k vocabulary)."""
    return _transformer((6, 512, 2048, 8, 0.1), **kwargs)


@register_model(task="translation")
def transformer_big(**kwargs) -> Transformer:
    """Table 3, big: N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3 (213M parameters)."""
    return _transformer((6, 1024, 4096, 16, 0.3), **kwargs)


@register_model(task="translation")
def transformer_tiny(**kwargs) -> Transformer:
    """For CPU runs on the generated task: N=2, d_model=128, d_ff=256, h=4, P_drop=0.1."""
    return _transformer((2, 128, 256, 4, 0.1), **kwargs)
