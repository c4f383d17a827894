"""GPT: "Improving Language Understanding by Generative Pre-Training", Radford et al. 2018, and GPT-2:
"Language Models are Unsupervised Multitask Learners", Radford et al. 2019.

- GPT (Sec. 3.1, Eq. 2): h_0 = U W_e + W_p (token and learned position embeddings), n transformer decoder
  blocks of masked (causal) multi-head self-attention and a position-wise MLP with a GELU, and
  P(u) = softmax(h_n W_e^T): the output layer is tied to the token embedding.
- GPT-2 (Sec. 2.3): layer normalisation moved to the input of each sub-block (pre-norm), a final layer norm
  after the last block, the residual projections initialised with weights scaled by 1/sqrt(N) for N
  residual layers (2 per block), a 50,257-token vocabulary and a context of 1024 tokens; Table 2 gives the
  four sizes (117M, which the released code makes 124M, 345M, 762M, 1542M).
- The released code (openai/gpt-2, model.py): the tanh approximation of the GELU, LayerNorm epsilon 1e-5, a 4x
  wide MLP. Its initialisation (N(0, 0.02) weights, N(0, 0.01) position embeddings, no residual scaling) is not
  the one here: this model initialises as nanoGPT does (N(0, 0.02) everywhere, residual projections scaled by
  1/sqrt(2 n_layer), the paper's Sec. 2.3 rule), which trains it from scratch.

`load_hf_gpt2_state_dict()` takes the weights of Hugging Face's `GPT2LMHeadModel`, whose Conv1D layers
store their matrices transposed; `generate()` samples with a key-value cache.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import attention
from .inputs import check_tokens
from .registry import register_model

Cache = list[tuple[torch.Tensor, torch.Tensor]]  # each block's keys and values, (B, n_head, T, head_dim)


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: (B, T, n_embd) -> (B, T, n_embd), token t attending to 0..t."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}; pick sizes that divide")
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # queries, keys and values of all heads at once
        self.c_proj = nn.Linear(n_embd, n_embd)  # a residual projection: scaled at initialisation
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, past: tuple | None = None, explicit: bool = False):
        """Returns the output and this block's (keys, values) including `past` (a cache of earlier tokens).
        With a cache, the new tokens attend to every cached one and causally among themselves."""
        q, k, v = (t.unflatten(-1, (self.n_head, -1)).transpose(1, 2) for t in self.c_attn(x).chunk(3, dim=-1))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        dropout = self.dropout if self.training else 0.0
        if past is None:
            y, _ = attention(q, k, v, dropout=dropout, need_weights=explicit, causal=True)
        else:  # the new tokens see every cached one, and each other causally
            new, total = q.shape[2], k.shape[2]
            mask = torch.ones(new, total, dtype=torch.bool, device=x.device).tril(total - new) if new > 1 else None
            y, _ = attention(q, k, v, mask, dropout, need_weights=explicit)
        y = y.transpose(1, 2).flatten(2)  # (B, T, n_embd)
        return self.resid_drop(self.c_proj(y)), (k, v)


class MLP(nn.Module):
    """Position-wise feed-forward: n_embd -> 4 n_embd -> GELU (tanh approximation) -> n_embd."""

    def __init__(self, n_embd: int, dropout: float):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)  # a residual projection: scaled at initialisation
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    """GPT-2's pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x: torch.Tensor, past: tuple | None = None, explicit: bool = False):
        attended, present = self.attn(self.ln_1(x), past, explicit)
        x = x + attended
        return x + self.mlp(self.ln_2(x)), present


class GPT(nn.Module):
    """Shapes: token ids (B, T) with T <= block_size -> next-token logits (B, T, vocab_size)."""

    def __init__(
        self,
        *,
        vocab_size: int,
        block_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        dropout: float = 0.0,
    ):
        """vocab_size and block_size (the context length) as in GPT-2's hparams; n_layer blocks of n_head
        heads over n_embd channels; dropout on the embeddings, attention weights and residual branches
        (0.1 in the papers)."""
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.wte = nn.Embedding(vocab_size, n_embd)  # W_e
        self.wpe = nn.Embedding(block_size, n_embd)  # W_p
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: P(u) = softmax(h_n W_e^T)
        self._init_weights(n_layer)

    def _init_weights(self, n_layer: int) -> None:
        """N(0, 0.02) weights and zero biases; residual projections N(0, 0.02 / sqrt(2 n_layer))."""
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif param.ndim == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(param, mean=0.0, std=std)

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names): Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"wte", "wpe", "lm_head"}

    def fused_matrices(self) -> dict[str, int]:
        """Weights that stack several matrices (Q, K, V of each block's c_attn): Muon orthogonalises each
        on its own."""
        return {f"blocks.{i}.attn.c_attn.weight": 3 for i in range(len(self.blocks))}

    def forward(self, idx: torch.Tensor, explicit: bool = False) -> torch.Tensor:
        """`explicit=True` takes the softmax(QK^T / sqrt(d)) path instead of the fused kernel (same output)."""
        logits, _ = self.forward_cached(idx, None, explicit)
        return logits

    def forward_cached(self, idx: torch.Tensor, cache: Cache | None, explicit: bool = False):
        """Logits of the tokens `idx` (B, T) that follow the `cache` of earlier ones, and the extended cache."""
        check_tokens(idx, self.vocab_size, "idx")
        start = cache[0][0].shape[2] if cache else 0
        if start + idx.shape[1] > self.block_size:
            raise ValueError(
                f"{start + idx.shape[1]} tokens exceed the context of block_size={self.block_size}; crop the "
                f"input to its last {self.block_size} tokens (generate() does), or build the model with a "
                "larger block_size"
            )
        positions = torch.arange(start, start + idx.shape[1], device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(positions))  # (B, T, n_embd)
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, cache[i] if cache else None, explicit)
            presents.append(present)
        return self.lm_head(self.ln_f(x)), presents

    @torch.no_grad()
    def generate(
        self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None, generator=None
    ) -> torch.Tensor:
        """Sample `max_new_tokens` after the prompt `idx` (B, T) -> (B, T + max_new_tokens), reusing keys and
        values; once the sequence outgrows block_size the context is cropped to its last block_size tokens
        and recomputed, as in the released code (positions are absolute, so the cache cannot slide)."""
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} must be > 0 (small values approach greedy decoding)")
        context, cache = idx[:, -self.block_size :], None
        for _ in range(max_new_tokens):
            logits, cache = self.forward_cached(context, cache)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, [-1]]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            next_token = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_token], dim=1)
            if cache[0][0].shape[2] < self.block_size:
                context = next_token
            else:
                context, cache = idx[:, -self.block_size :], None
        return idx

    def load_hf_gpt2_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load the weights of Hugging Face's `GPT2LMHeadModel` (e.g. `GPT2LMHeadModel.from_pretrained("gpt2")
        .state_dict()` into `create_model("gpt2")`): its Conv1D layers hold (in, out) matrices, transposed here
        into nn.Linear's (out, in); the causal-mask buffers of older versions are skipped. Strict."""
        mapped = {}
        for key, value in state_dict.items():
            name = key.removeprefix("transformer.")
            name = "blocks." + name.removeprefix("h.") if name.startswith("h.") else name
            if name.endswith((".attn.bias", ".attn.masked_bias")):
                continue
            if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
                value = value.t()
            mapped[name] = value
        mapped.setdefault("lm_head.weight", mapped["wte.weight"])
        self.load_state_dict(mapped, strict=True)


def _gpt(sizes: tuple[int, int, int], **kwargs) -> GPT:
    """sizes = (n_layer, n_head, n_embd); GPT-2's vocabulary and context unless given."""
    n_layer, n_head, n_embd = sizes
    return GPT(
        **{"vocab_size": 50257, "block_size": 1024, "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, **kwargs}
    )


# GPT-2, Table 2 (the released models' sizes): small, medium, large, XL.
@register_model(task="language_modeling")
def gpt2(**kwargs) -> GPT:
    """124M parameters: 12 layers, 12 heads, 768 channels."""
    return _gpt((12, 12, 768), **kwargs)


@register_model(task="language_modeling")
def gpt2_medium(**kwargs) -> GPT:
    """355M: 24 layers, 16 heads, 1024 channels."""
    return _gpt((24, 16, 1024), **kwargs)


@register_model(task="language_modeling")
def gpt2_large(**kwargs) -> GPT:
    """774M: 36 layers, 20 heads, 1280 channels."""
    return _gpt((36, 20, 1280), **kwargs)


@register_model(task="language_modeling")
def gpt2_xl(**kwargs) -> GPT:
    """1558M: 48 layers, 25 heads, 1600 channels."""
    return _gpt((48, 25, 1600), **kwargs)


# For CPU runs on character-level text (vocabulary and context from the data).
@register_model(task="language_modeling")
def gpt_tiny(**kwargs) -> GPT:
    """nanoGPT's CPU example: 4 layers, 4 heads, 128 channels, a 64-character context (0.8M parameters)."""
    return _gpt((4, 4, 128), **{"vocab_size": 65, "block_size": 64, **kwargs})


@register_model(task="language_modeling")
def gpt_shakespeare(**kwargs) -> GPT:
    """nanoGPT's shakespeare_char GPU model: 6 layers, 6 heads, 384 channels, a 256-character context (10.7M)."""
    return _gpt((6, 6, 384), **{"vocab_size": 65, "block_size": 256, "dropout": 0.2, **kwargs})
