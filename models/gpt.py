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

The modern ingredients, each an option, off by default so that `gpt2` stays GPT-2 (the speedrun ladder of
modded-nanogpt, docs/speedruns.md): `position="rope"`, rotary position embeddings (Su et al. 2021, Eq. 34: each
pair of query and key channels rotated by an angle proportional to the position, so that scores depend on
relative position only); `norm="rmsnorm"` (Zhang and Sennrich 2019); `mlp="swiglu"` (Shazeer 2020, FFN_SwiGLU)
or `"relu2"` (So et al. 2021, Primer); `qk_norm` (RMSNorm of each head's queries and keys, Dehghani et al. 2023);
`tie_embeddings=False`; `logit_softcap` (cap * tanh(logits / cap), Gemma 2); `bias=False`; `n_kv_head`,
grouped-query attention (Ainslie et al. 2023, Sec. 2.2: n_head query heads share n_kv_head key and value heads,
n_head / n_kv_head queries a group; n_kv_head = 1 is multi-query attention, Shazeer 2019). LLaMA (Touvron et al.
2023, Sec. 2.2) is RoPE + RMSNorm + SwiGLU + no biases + an untied head: `llama_7b` and `llama_tiny`, and
`from_hf_llama(config, state_dict)` builds one from Hugging Face's `LlamaConfig` (or its config.json) and loads a
`LlamaForCausalLM`'s weights, grouped-query or not.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import attention
from .inputs import check_tokens
from .registry import register_model

Cache = list[tuple[torch.Tensor, torch.Tensor]]  # each block's keys and values, (B, n_kv_head, T, head_dim)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding (Su et al. 2021): channel i of the first half and channel i of the second half of each
    head, as a pair, rotated by position * theta_i. x (B, h, T, d); cos, sin (T, d / 2)."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).type_as(x)


def rotary_angles(head_dim: int, positions: torch.Tensor, theta: float = 10000.0):
    """cos and sin of position * theta^(-2i / head_dim), i < head_dim / 2: (T, head_dim / 2) each."""
    inverse = theta ** -(torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim)
    angles = positions.float()[:, None] * inverse
    return angles.cos(), angles.sin()


def norm_layer(kind: str, size: int, bias: bool, eps: float) -> nn.Module:
    if kind not in ("layernorm", "rmsnorm"):
        raise ValueError(f"norm={kind!r}; use layernorm (GPT-2) or rmsnorm (LLaMA)")
    return nn.LayerNorm(size, eps=eps, bias=bias) if kind == "layernorm" else nn.RMSNorm(size, eps=eps)


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: (B, T, n_embd) -> (B, T, n_embd), token t attending to 0..t. With
    n_kv_head < n_head, grouped-query attention: each key and value head serves n_head / n_kv_head query heads."""

    def __init__(self, n_embd: int, n_head: int, *, dropout: float = 0.0, bias: bool = True, qk_norm: bool = False,
                 norm_eps: float = 1e-5, n_kv_head: int | None = None):  # fmt: skip
        super().__init__()
        n_kv_head = n_kv_head or n_head
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}; pick sizes that divide")
        if n_head % n_kv_head:
            raise ValueError(f"n_head={n_head} is not divisible by n_kv_head={n_kv_head}; pick a divisor of n_head")
        self.n_head, self.n_kv_head, self.dropout = n_head, n_kv_head, dropout
        self.head_dim = head_dim = n_embd // n_head
        self.sizes = (n_embd, n_kv_head * head_dim, n_kv_head * head_dim)  # the rows of Q, K and V in c_attn
        self.c_attn = nn.Linear(n_embd, sum(self.sizes), bias=bias)  # queries, keys and values of all heads at once
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)  # a residual projection: scaled at initialisation
        self.resid_drop = nn.Dropout(dropout)
        self.q_norm, self.k_norm = (nn.RMSNorm(head_dim, eps=norm_eps) for _ in range(2)) if qk_norm else (None, None)

    def forward(self, x: torch.Tensor, past: tuple | None = None, explicit: bool = False, rope: tuple | None = None):
        """Returns the output and this block's (keys, values) including `past` (a cache of earlier tokens).
        With a cache, the new tokens attend to every cached one and causally among themselves. `rope`: the
        new tokens' (cos, sin), which rotate their queries and keys."""
        q, k, v = (t.unflatten(-1, (-1, self.head_dim)).transpose(1, 2) for t in self.c_attn(x).split(self.sizes, -1))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        present = (k, v)  # n_kv_head heads
        if self.n_kv_head < self.n_head:  # grouped-query: each key and value head serves its group of query heads
            group = self.n_head // self.n_kv_head
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        dropout = self.dropout if self.training else 0.0
        if past is None:
            y, _ = attention(q, k, v, dropout=dropout, need_weights=explicit, causal=True)
        else:  # the new tokens see every cached one, and each other causally
            new, total = q.shape[2], k.shape[2]
            mask = torch.ones(new, total, dtype=torch.bool, device=x.device).tril(total - new) if new > 1 else None
            y, _ = attention(q, k, v, mask, dropout, need_weights=explicit)
        y = y.transpose(1, 2).flatten(2)  # (B, T, n_embd)
        return self.resid_drop(self.c_proj(y)), present


MLPS = ("gelu", "swiglu", "relu2")


class MLP(nn.Module):
    """Position-wise feed-forward, n_embd -> hidden -> n_embd: GELU (tanh approximation, GPT-2), SwiGLU
    (Swish(x W) * (x V), then W_2; c_fc holds W and V stacked) or ReLU squared."""

    def __init__(self, n_embd: int, hidden: int, *, dropout: float = 0.0, kind: str = "gelu", bias: bool = True):
        super().__init__()
        if kind not in MLPS:
            raise ValueError(f"mlp={kind!r}; use one of {', '.join(MLPS)}")
        self.kind = kind
        self.c_fc = nn.Linear(n_embd, 2 * hidden if kind == "swiglu" else hidden, bias=bias)
        self.c_proj = nn.Linear(hidden, n_embd, bias=bias)  # a residual projection: scaled at initialisation
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)
        if self.kind == "swiglu":
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = F.relu(h).square() if self.kind == "relu2" else F.gelu(h, approximate="tanh")
        return self.drop(self.c_proj(h))


class MoE(nn.Module):
    """A sparse mixture of `n_experts` MLPs in place of the one MLP (Shazeer et al. 2017; Switch Transformer, Fedus et
    al. 2021; Mixtral, Jiang et al. 2024): a linear router scores the experts for each token, the token goes to its
    `top_k` best, and their outputs are summed, weighted by the router's softmax renormalised over those k (Mixtral,
    Eq. 1) or, for k = 1, by the expert's probability itself (Switch, Eq. 2: the router's gradient). Dropless: each
    token reaches its k experts, with no capacity factor (MegaBlocks, Gale et al. 2022). After each forward,
    `balance` holds Switch's load-balancing loss (Sec. 2.2, Eq. 4-6), n_experts * sum_i f_i P_i: f_i the fraction
    of the token-expert assignments that went to expert i, P_i the mean router probability of expert i; it is 1
    when the load is uniform. (B, T, n_embd) -> same."""

    def __init__(self, n_embd: int, hidden: int, *, n_experts: int, top_k: int, **mlp):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"moe_top_k={top_k} must be between 1 and moe_experts={n_experts}")
        self.top_k = top_k
        self.router = nn.Linear(n_embd, n_experts, bias=False)
        self.experts = nn.ModuleList(MLP(n_embd, hidden, **mlp) for _ in range(n_experts))
        self.balance = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(0, -2)  # (N, n_embd)
        probs = self.router(flat).float().softmax(dim=-1)  # (N, n_experts)
        weights, chosen = probs.topk(self.top_k, dim=-1)  # (N, k)
        if self.top_k > 1:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(flat)
        for index, expert in enumerate(self.experts):
            token, slot = (chosen == index).nonzero(as_tuple=True)  # the tokens routed here (a dynamic shape)
            if len(token):
                out.index_add_(0, token, expert(flat[token]) * weights[token, slot, None].to(flat.dtype))
        fraction = F.one_hot(chosen, len(self.experts)).float().sum(dim=(0, 1)) / chosen.numel()  # f_i
        self.balance = len(self.experts) * (fraction * probs.mean(dim=0)).sum()
        return out.view_as(x)


def mlps(module: nn.Module, prefix: str) -> list[tuple[str, MLP]]:
    """The MLPs of a block's feed-forward (its one MLP, or each expert) with their names."""
    if isinstance(module, MoE):
        return [(f"{prefix}.experts.{e}", expert) for e, expert in enumerate(module.experts)]
    return [(prefix, module)]


class Block(nn.Module):
    """GPT-2's pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) (a mixture of experts' with moe_experts)."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        *,
        dropout: float = 0.0,
        norm: str = "layernorm",
        mlp: str = "gelu",
        mlp_hidden: int | None = None,
        bias: bool = True,
        qk_norm: bool = False,
        norm_eps: float = 1e-5,
        n_kv_head: int | None = None,
        moe_experts: int = 0,
        moe_top_k: int = 2,
    ):
        super().__init__()
        self.ln_1 = norm_layer(norm, n_embd, bias, norm_eps)
        attention = {"dropout": dropout, "bias": bias, "qk_norm": qk_norm, "norm_eps": norm_eps, "n_kv_head": n_kv_head}
        self.attn = CausalSelfAttention(n_embd, n_head, **attention)
        self.ln_2 = norm_layer(norm, n_embd, bias, norm_eps)
        feed_forward = {"dropout": dropout, "kind": mlp, "bias": bias}
        self.mlp = (
            MoE(n_embd, mlp_hidden or 4 * n_embd, n_experts=moe_experts, top_k=moe_top_k, **feed_forward)
            if moe_experts
            else MLP(n_embd, mlp_hidden or 4 * n_embd, **feed_forward)
        )

    def forward(self, x: torch.Tensor, past: tuple | None = None, explicit: bool = False, rope: tuple | None = None):
        attended, present = self.attn(self.ln_1(x), past, explicit, rope)
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
        position: str = "learned",
        norm: str = "layernorm",
        mlp: str = "gelu",
        mlp_hidden: int | None = None,
        qk_norm: bool = False,
        tie_embeddings: bool = True,
        logit_softcap: float | None = None,
        bias: bool = True,
        norm_eps: float = 1e-5,
        rope_theta: float = 10000.0,
        n_kv_head: int | None = None,
        moe_experts: int = 0,
        moe_top_k: int = 2,
        moe_balance: float = 0.01,
    ):
        """vocab_size and block_size (the context length) as in GPT-2's hparams; n_layer blocks of n_head
        heads over n_embd channels; dropout on the embeddings, attention weights and residual branches
        (0.1 in the papers). The rest: the modern ingredients of the module docstring (mlp_hidden: the MLP's
        width, 4 n_embd by default; norm_eps: LayerNorm's or RMSNorm's epsilon; n_kv_head: key and value heads,
        None for n_head). moe_experts > 0 makes every MLP a mixture of that many experts of mlp_hidden units, each
        token reaching moe_top_k of them; moe_balance weighs Switch's load-balancing loss (alpha = 0.01, Sec. 2.2)."""
        super().__init__()
        if position not in ("learned", "rope"):
            raise ValueError(f"position={position!r}; use learned (GPT-2) or rope (rotary, Su et al. 2021)")
        if logit_softcap is not None and logit_softcap <= 0:
            raise ValueError(f"logit_softcap={logit_softcap} must be > 0, or None for no cap")
        self.vocab_size, self.block_size, self.head_dim = vocab_size, block_size, n_embd // max(n_head, 1)
        self.logit_softcap, self.rope_theta = logit_softcap, rope_theta
        self.wte = nn.Embedding(vocab_size, n_embd)  # W_e
        self.wpe = nn.Embedding(block_size, n_embd) if position == "learned" else None  # W_p
        self.drop = nn.Dropout(dropout)
        block = {"dropout": dropout, "norm": norm, "mlp": mlp, "mlp_hidden": mlp_hidden, "bias": bias}
        block |= {"qk_norm": qk_norm, "norm_eps": norm_eps, "n_kv_head": n_kv_head}  # one line per new option
        block |= {"moe_experts": moe_experts, "moe_top_k": moe_top_k}
        self.moe_balance = moe_balance
        self.blocks = nn.ModuleList(Block(n_embd, n_head, **block) for _ in range(n_layer))
        self.ln_f = norm_layer(norm, n_embd, bias, norm_eps)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_embeddings:
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
        """The input and output layers (module names), and the experts' routers: Muon leaves them to AdamW (Jordan
        et al. 2024); each expert's matrices are Muon's, one at a time."""
        routers = {f"blocks.{i}.mlp.router" for i, block in enumerate(self.blocks) if isinstance(block.mlp, MoE)}
        return {"wte", "lm_head"} | ({"wpe"} if self.wpe is not None else set()) | routers

    def aux_loss(self) -> torch.Tensor | None:
        """moe_balance times the blocks' load-balancing losses of the last forward (Switch, Sec. 2.2); None without
        experts."""
        balances = [block.mlp.balance for block in self.blocks if isinstance(block.mlp, MoE)]
        return self.moe_balance * sum(balances) if balances else None

    def fused_matrices(self) -> dict[str, tuple[int, ...]]:
        """Weights that stack several matrices, with the rows of each (Q, K, V of each block's c_attn; SwiGLU's W
        and V in c_fc): Muon orthogonalises each on its own."""
        fused = {}
        for i, block in enumerate(self.blocks):
            fused[f"blocks.{i}.attn.c_attn.weight"] = block.attn.sizes
            for prefix, mlp in mlps(block.mlp, f"blocks.{i}.mlp"):
                if mlp.kind == "swiglu":
                    fused[f"{prefix}.c_fc.weight"] = (mlp.c_proj.in_features,) * 2
        return fused

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
        x = self.wte(idx) if self.wpe is None else self.wte(idx) + self.wpe(positions)
        x = self.drop(x)  # (B, T, n_embd)
        rope = rotary_angles(self.head_dim, positions, self.rope_theta) if self.wpe is None else None
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, cache[i] if cache else None, explicit, rope)
            presents.append(present)
        logits = self.lm_head(self.ln_f(x))
        if self.logit_softcap is not None:
            logits = self.logit_softcap * torch.tanh(logits / self.logit_softcap)
        return logits, presents

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


LLAMA_NAMES = {  # Hugging Face's LlamaForCausalLM -> ours, within model.layers.{i} / blocks.{i}
    "input_layernorm": "ln_1",
    "self_attn.o_proj": "attn.c_proj",
    "post_attention_layernorm": "ln_2",
    "mlp.down_proj": "mlp.c_proj",
}


def from_hf_llama(config, state_dict: dict[str, torch.Tensor]) -> GPT:
    """The GPT of Hugging Face's `LlamaForCausalLM`: built from its config (a `LlamaConfig`, or the dict of a
    checkpoint's config.json: sizes, rms_norm_eps, rope_theta, tied or untied head), the weights loaded (q, k
    and v stacked into c_attn, gate and up into c_fc; strict). What this model does not compute (scaled rotary
    frequencies such as Llama 3.1's rope_scaling, biases, another activation) is refused in one line, rather
    than loaded to compute something else."""
    model = GPT(**llama_kwargs(config.to_dict() if hasattr(config, "to_dict") else dict(config)))
    mapped, stacked = {}, {}
    for key, value in state_dict.items():
        name = key.removeprefix("model.")
        if name.endswith("rotary_emb.inv_freq"):
            continue
        if name.startswith("layers."):
            index, rest = name.removeprefix("layers.").split(".", 1)
            module, _, kind = rest.rpartition(".")
            if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"):
                target = "attn.c_attn" if module.startswith("self_attn") else "mlp.c_fc"
                stacked.setdefault(f"blocks.{index}.{target}.{kind}", {})[module] = value
                continue
            name = f"blocks.{index}.{LLAMA_NAMES[module]}.{kind}"
        mapped[{"embed_tokens.weight": "wte.weight", "norm.weight": "ln_f.weight"}.get(name, name)] = value
    order = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj")
    for name, parts in stacked.items():
        mapped[name] = torch.cat([parts[module] for module in order if module in parts])
    if model.lm_head.weight is model.wte.weight:
        mapped.setdefault("lm_head.weight", mapped["wte.weight"])
    model.load_state_dict(mapped, strict=True)
    return model


def llama_kwargs(config: dict) -> dict:
    """GPT's constructor arguments for a Llama config (transformers' keys; its rope_parameters, or the older
    rope_theta and rope_scaling of a config.json); a ValueError naming the key for what it does not compute."""
    ropes = [config.get(key) or {} for key in ("rope_scaling", "rope_parameters")]  # older, newer transformers
    scaled = [rope for rope in ropes if rope.get("rope_type", rope.get("type", "default")) != "default"]
    rope = {**ropes[0], **ropes[1]}
    unsupported = {
        "rope_scaling": bool(scaled),
        "hidden_act": config.get("hidden_act", "silu") != "silu",
        "attention_bias": config.get("attention_bias", False),
        "mlp_bias": config.get("mlp_bias", False),
        "head_dim": config.get("head_dim") not in (None, config["hidden_size"] // config["num_attention_heads"]),
    }
    for key, refused in unsupported.items():
        if refused:
            value = scaled[0] if key == "rope_scaling" else config.get(key)
            raise ValueError(
                f"the Llama config's {key}={value} is not supported: this GPT computes rotary embeddings of one "
                "rope_theta, SwiGLU (silu), no biases and heads of hidden_size / num_attention_heads"
            )
    return {
        **LLAMA,
        "vocab_size": config["vocab_size"],
        "block_size": config["max_position_embeddings"],
        "n_layer": config["num_hidden_layers"],
        "n_head": config["num_attention_heads"],
        "n_embd": config["hidden_size"],
        "mlp_hidden": config["intermediate_size"],
        "n_kv_head": config.get("num_key_value_heads") or config["num_attention_heads"],
        "norm_eps": config.get("rms_norm_eps", 1e-6),
        "rope_theta": float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
        "tie_embeddings": bool(config.get("tie_word_embeddings", False)),
    }


LLAMA = {"position": "rope", "norm": "rmsnorm", "mlp": "swiglu", "bias": False, "tie_embeddings": False}


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


# LLaMA (Touvron et al. 2023, Table 2; Sec. 2.2: pre-normalisation with RMSNorm, SwiGLU, rotary embeddings).
@register_model(task="language_modeling")
def llama_7b(**kwargs) -> GPT:
    """6.7B: 32 layers, 32 heads, 4096 channels, SwiGLU of 11,008, a 32,000-piece vocabulary, 2,048 tokens."""
    sizes = {"vocab_size": 32000, "block_size": 2048, "mlp_hidden": 11008, "norm_eps": 1e-6}
    return _gpt((32, 32, 4096), **{**LLAMA, **sizes, **kwargs})


@register_model(task="language_modeling")
def llama_tiny(**kwargs) -> GPT:
    """gpt_tiny's size as LLaMA: 4 layers, 4 heads, 128 channels, SwiGLU of 352 (8/3 x 128, rounded up to 32)."""
    sizes = {"vocab_size": 65, "block_size": 64, "mlp_hidden": 352, "norm_eps": 1e-6}
    return _gpt((4, 4, 128), **{**LLAMA, **sizes, **kwargs})
