"""Greedy and beam-search decoding for any model with the translation interface: `encode(src) -> state`
(a dict of tensors, batch first) and `decode_step(state, tokens) -> (next-token logits (B, V), state)`."""

import torch


def reorder(state: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
    """Select (and repeat) batch entries of every tensor in a decoder state."""
    return {name: value.index_select(0, index) for name, value in state.items()}


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, *, bos: int, eos: int, max_len: int) -> torch.Tensor:
    """The most likely next token at each step: (B, <= 1 + max_len) ids starting with bos; after a
    sentence's eos only eos follows."""
    state = model.encode(src)
    tokens = torch.full((len(src), 1), bos, dtype=torch.long, device=src.device)
    finished = torch.zeros(len(src), dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits, state = model.decode_step(state, tokens)
        next_token = logits.argmax(dim=-1).masked_fill(finished, eos)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        finished |= next_token == eos
        if finished.all():
            break
    return tokens


@torch.no_grad()
def beam_search(
    model, src: torch.Tensor, *, bos: int, eos: int, max_len: int, beam_size: int, length_penalty: float = 0.6
) -> torch.Tensor:
    """Keep the `beam_size` most likely prefixes of each sentence; a finished hypothesis keeps its score.
    The best hypothesis maximises log p / ((5 + length) / 6)^length_penalty (Wu et al. 2016, as the Transformer
    paper's Sec. 6.1 uses with beam 4 and alpha 0.6). Returns (B, <= 1 + max_len) ids as greedy_decode."""
    batch, k = len(src), beam_size
    device = src.device
    state = reorder(model.encode(src), torch.arange(batch, device=device).repeat_interleave(k))
    tokens = torch.full((batch * k, 1), bos, dtype=torch.long, device=device)
    scores = torch.zeros(batch, k, device=device)
    scores[:, 1:] = float("-inf")  # all beams start equal: expand only the first
    finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * k, device=device)  # tokens up to and including eos
    for _ in range(max_len):
        logits, state = model.decode_step(state, tokens)
        log_probs = logits.float().log_softmax(dim=-1)
        vocab = log_probs.shape[-1]
        log_probs[finished] = float("-inf")
        log_probs[finished, eos] = 0.0  # a finished hypothesis continues with eos at no cost
        candidates = (scores.reshape(-1, 1) + log_probs).reshape(batch, k * vocab)
        scores, flat = candidates.topk(k, dim=1)
        origin = (torch.arange(batch, device=device)[:, None] * k + flat // vocab).reshape(-1)
        next_token = (flat % vocab).reshape(-1)
        state, tokens = reorder(state, origin), torch.cat([tokens[origin], next_token[:, None]], dim=1)
        lengths = lengths[origin] + ~finished[origin]
        finished = finished[origin] | (next_token == eos)
        if finished.all():
            break
    normalised = scores / ((5 + lengths.reshape(batch, k)) / 6) ** length_penalty
    best = torch.arange(batch, device=device) * k + normalised.argmax(dim=1)
    return tokens[best]
