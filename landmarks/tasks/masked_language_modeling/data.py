"""Text as packed sequences of subword ids, and BERT's masking.

- The vocabulary: landmarks/tasks/pieces.py's sentencepiece BPE, trained on the training split only.
- Packing: the split's ids as one stream cut into windows of block_size - 2 tokens, each as [CLS] window [SEP]
  (RoBERTa's full-sentence packing; there is no next-sentence pair).
- Masking (Sec. 3.1, Task #1; App. A.1): each token chosen with probability mask_prob (15%) (whole words with
  `whole_word`: a word's pieces together), of the chosen 80% become [MASK], 10% a random token, 10% stay; the
  loss reads the chosen positions only. Drawn anew at every step from (seed, step) (dynamic masking, Liu et al.
  2019), so that a resumed run masks as the uninterrupted one.
"""

from dataclasses import dataclass

import torch

from landmarks.datasets import TextError
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig
from landmarks.tasks.pieces import Pieces

IGNORE = -100  # the label of positions the loss skips


@dataclass
class PackedText:
    train: torch.Tensor  # (N, block_size) [CLS] ... [SEP] windows of the training split, on the device
    val: torch.Tensor  # (M, block_size) of the validation split
    test: torch.Tensor  # (M', block_size) of the test split, held out as the validation split is
    pieces: Pieces


def load_packed_text(cfg: MaskedTextConfig, device) -> PackedText:
    """The corpus's three parts (the dataset splits it), the vocabulary trained on the training part only, each
    packed into windows (data.val_sequences of the validation and test parts at most)."""
    parts = DATASETS[cfg.source](cfg)
    pieces = Pieces.train(parts[0], cfg.vocab_size)
    train, val, test = (
        pack(pieces, part, cfg.block_size, name) for part, name in zip(parts, ("training", "validation", "test"))
    )
    return PackedText(
        train.to(device), val[: cfg.val_sequences].to(device), test[: cfg.val_sequences].to(device), pieces
    )


def pack(pieces: Pieces, text: str, block_size: int, name: str) -> torch.Tensor:
    stream = torch.tensor(pieces.encode(text), dtype=torch.long)
    length = block_size - 2
    if len(stream) < length:
        raise TextError(
            f"the {name} text holds {len(stream)} tokens, fewer than data.block_size - 2 = {length}; "
            "use more text or a smaller data.block_size"
        )
    body = stream[: len(stream) // length * length].view(-1, length)
    column = torch.full((len(body), 1), 0, dtype=torch.long)
    return torch.cat([column + pieces.cls, body, column + pieces.sep], dim=1)


def mask_tokens(ids: torch.Tensor, pieces: Pieces, cfg: MaskedTextConfig, generator: torch.Generator):
    """BERT's masking of a batch of windows (B, T): (inputs with [MASK] and random tokens, labels with the original
    ids at the chosen positions and IGNORE elsewhere). [CLS] and [SEP] are never chosen."""
    draw = lambda: torch.rand(ids.shape, generator=generator, device=ids.device)  # noqa: E731
    special = (ids == pieces.cls) | (ids == pieces.sep)
    chosen = (draw() < cfg.mask_prob) & ~special
    if cfg.whole_word:  # a word is chosen at its first piece, and its other pieces follow it
        starts = pieces.word_starts(ids.device)[ids] | special
        position = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        word_start = torch.where(starts, position, 0).cummax(dim=1).values
        chosen = (chosen & starts).gather(1, word_start) & ~special
    action = draw()
    to_mask = chosen & (action < cfg.replace_with_mask)
    to_random = chosen & ~to_mask & (action < cfg.replace_with_mask + cfg.replace_with_random)
    randoms = torch.randint(pieces.first_normal, len(pieces), ids.shape, generator=generator, device=ids.device)
    inputs = torch.where(to_mask, pieces.mask, torch.where(to_random, randoms, ids))
    return inputs, torch.where(chosen, ids, IGNORE)
