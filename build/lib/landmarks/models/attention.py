"""Scaled dot-product attention (Vaswani et al. 2017, Sec. 3.2.1, Eq. 1), shared by the Transformer, ViT and GPT."""

import math

import torch
import torch.nn.functional as F


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout: float = 0.0,
    need_weights: bool = False,
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """softmax(Q K^T / sqrt(d_k)) V for q (B, h, N_q, d), k and v (B, h, N_k, d) -> (B, h, N_q, d).

    `mask` is boolean, broadcastable to (B, h, N_q, N_k), True where a query may attend. The hot path is
    the fused `F.scaled_dot_product_attention`; `need_weights=True` takes the explicit path (no dropout),
    which gives the same output (tested) and also returns the weights (B, h, N_q, N_k). `causal=True` lets
    query i attend to keys 0..i only (a decoder's self-attention, N_q == N_k), in place of a mask."""
    if causal:
        if not need_weights:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True), None
        mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout), None
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights
