"""Greedy and beam-search decoding for any model with the translation interface: `encode(src) -> state`
(a dict of tensors, batch first) and `decode_step(state, tokens) -> (next-token logits (B, V), state)`; a model
whose state holds entries fixed per source (the `fixed_state` hook: its memory) spares beam search their copies."""

import torch

from landmarks.hooks import hook


def reorder(state: dict[str, torch.Tensor], index: torch.Tensor, fixed: set[str] = frozenset()) -> dict:
    """Select (and repeat) batch entries of every tensor in a decoder state but the `fixed` ones, which are the
    same for every hypothesis of a sentence (an index within each sentence's group leaves them as they are)."""
    return {name: value if name in fixed else value.index_select(0, index) for name, value in state.items()}


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, *, bos: int, eos: int, max_len: int | torch.Tensor) -> torch.Tensor:
    """The most likely next token at each step: (B, <= 1 + max_len) ids starting with bos; after a sentence's eos,
    or its `max_len` tokens (one for all, or one per sentence), only eos follows."""
    limits = torch.as_tensor(max_len, device=src.device).expand(len(src))
    state = model.encode(src)
    tokens = torch.full((len(src), 1), bos, dtype=torch.long, device=src.device)
    finished = torch.zeros(len(src), dtype=torch.bool, device=src.device)
    for length in range(1, int(limits.max()) + 1):
        logits, state = model.decode_step(state, tokens)
        next_token = logits.argmax(dim=-1).masked_fill(finished, eos)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= (next_token == eos) | (length >= limits)
        if finished.all():
            break
    return tokens


def lp(length: int, alpha: float) -> float:
    """GNMT's lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al. 2016, Sec. 7)."""
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(
    model,
    src: torch.Tensor,
    *,
    bos: int,
    eos: int,
    max_len: int | torch.Tensor,
    beam_size: int,
    length_penalty: float = 0.6,
) -> torch.Tensor:
    """Beam search as in GNMT (Wu et al. 2016, Sec. 7), which the Transformer paper uses (Sec. 6.1: beam 4,
    alpha 0.6): each sentence keeps `beam_size` live prefixes, and a hypothesis that ends (eos, or max_len
    tokens) leaves the beam for a separate finished set, scored log p(Y) / lp(Y), so no live prefix can push it
    out. Of that set only the best is kept, since it alone is returned. A sentence is done when its best live
    prefix, were it to end at the next step, would not beat its best finished hypothesis (log p only falls; with
    alpha > 0 a longer ending could still win, a heuristic that Hugging Face's beam search also makes, since the
    exact bound, lp(max_len), would decode nearly every batch to max_len). `max_len`: one for all, or one per
    sentence. Returns (B, <= 1 + max_len) ids starting with bos, eos-padded after each hypothesis, as greedy_decode."""
    batch, k, device = len(src), beam_size, src.device
    limits = torch.as_tensor(max_len, device=device).expand(batch)
    max_len = int(limits.max())
    fixed = fixed_state() if (fixed_state := hook(model, "fixed_state")) else set()
    state = reorder(model.encode(src), torch.arange(batch, device=device).repeat_interleave(k))
    tokens = torch.full((batch * k, 1), bos, dtype=torch.long, device=device)
    scores = torch.zeros(batch, k, device=device)  # log p of the live prefixes
    scores[:, 1:] = float("-inf")  # all beams start equal: expand only the first
    best = torch.full((batch, max_len + 1), eos, dtype=torch.long, device=device)  # the best finished hypothesis
    best_score = torch.full((batch,), float("-inf"), device=device)
    first_row = torch.arange(batch, device=device)[:, None] * k
    for length in range(1, max_len + 1):  # tokens after bos once this step's token is appended
        logits, state = model.decode_step(state, tokens)
        log_probs = logits.float().log_softmax(dim=-1)
        vocab = log_probs.shape[-1]
        candidates = (scores.reshape(-1, 1) + log_probs).reshape(batch, k * vocab)
        top, flat = candidates.topk(min(2 * k, k * vocab), dim=1)  # at least k of them do not end here
        origin, token = first_row + flat // vocab, flat % vocab
        ends = (token == eos) | (length >= limits)[:, None]
        finished = torch.where(ends, top / lp(length, length_penalty), float("-inf"))
        value, index = finished.max(dim=1)
        improved = value > best_score
        winner = origin.gather(1, index[:, None]).squeeze(1)
        hypothesis = torch.cat([tokens[winner], token.gather(1, index[:, None])], dim=1)
        best[:, : length + 1] = torch.where(improved[:, None], hypothesis, best[:, : length + 1])
        best_score = torch.maximum(best_score, value)
        scores, pick = top.masked_fill(ends, float("-inf")).topk(k, dim=1)  # the k best that go on
        chosen = origin.gather(1, pick).reshape(-1)
        state = reorder(state, chosen, fixed)  # `chosen` stays within each sentence's k rows
        tokens = torch.cat([tokens[chosen], token.gather(1, pick).reshape(-1, 1)], 1)
        bound = scores[:, 0] / lp(length + 1, length_penalty)
        if bool((best_score >= bound).all()):
            break
    used = int((best != eos).sum(dim=1).max())  # the longest hypothesis's tokens before its eos, bos included
    return best[:, : used + 1]


def translate_ids(model, src: torch.Tensor, *, bos: int, eos: int, pad: int, beam_size: int) -> torch.Tensor:
    """Decoded ids (B, <= 1 + max_len), starting with bos, of a source batch: beam search of `beam_size`, or
    greedy for 1; each sentence at most 1.5 times its source's length plus 10 tokens (its own, not the batch's
    padded length: a translation does not depend on the sentences decoded beside it)."""
    max_len = (src != pad).sum(dim=1) * 3 // 2 + 10
    if beam_size > 1:
        return beam_search(model, src, bos=bos, eos=eos, max_len=max_len, beam_size=beam_size)
    return greedy_decode(model, src, bos=bos, eos=eos, max_len=max_len)
