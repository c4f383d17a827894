"""Text as packed sequences of subword ids, and BERT's masking.

- The vocabulary: a sentencepiece BPE model (Kudo and Richardson 2018) trained on the training split only, with
  [PAD], [UNK], [CLS], [SEP] and [MASK]. The paper used WordPiece; sentencepiece is already this project's
  tokenizer (translation), needs no pre-tokenisation, marks word starts ("▁") for whole-word masking, and is what
  carried BERT-style models to many languages. Byte fallback spells unseen characters as bytes: no [UNK].
- Packing: the split's ids as one stream cut into windows of block_size - 2 tokens, each as [CLS] window [SEP]
  (RoBERTa's full-sentence packing; there is no next-sentence pair).
- Masking (Sec. 3.1, Task #1; App. A.1): each token chosen with probability mask_prob (15%) (whole words with
  `whole_word`: a word's pieces together), of the chosen 80% become [MASK], 10% a random token, 10% stay; the
  loss reads the chosen positions only. Drawn anew at every step from (seed, step) (dynamic masking, Liu et al.
  2019), so that a resumed run masks as the uninterrupted one.
"""

import io
import re
from dataclasses import dataclass

import torch

from landmarks.datasets import TextError
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig

PAD, UNK = 0, 1
SPECIALS = ("[CLS]", "[SEP]", "[MASK]")
IGNORE = -100  # the label of positions the loss skips


class Pieces:
    """A sentencepiece model kept as its serialised bytes; ids of the specials; which pieces start a word."""

    def __init__(self, model: bytes):
        import sentencepiece  # imported late: only subword runs need it

        self.model, self.processor = model, sentencepiece.SentencePieceProcessor(model_proto=model)
        self.cls, self.sep, self.mask = (self.processor.piece_to_id(piece) for piece in SPECIALS)
        self.first_normal = max(self.cls, self.sep, self.mask) + 1  # random replacements come from here on
        pieces = [self.processor.id_to_piece(i) for i in range(len(self))]
        self.word_start = torch.tensor([piece.startswith("▁") for piece in pieces])

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "Pieces":
        """BPE of at most `vocab_size` pieces (fewer if the text has fewer), deterministic for the same text."""
        import sentencepiece

        model = io.BytesIO()
        try:
            train_bpe(sentencepiece, text, vocab_size, model)
        except RuntimeError as error:  # sentencepiece's own message is a C++ assertion
            needed = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(error))
            if not needed:
                raise
            raise TextError(
                f"data.vocab_size={vocab_size} is below the {needed.group(1)} pieces this text needs (256 bytes, "
                f"the specials and its characters); raise data.vocab_size"
            ) from None
        return cls(model.getvalue())

    def __len__(self) -> int:
        return len(self.processor)

    def encode(self, text: str) -> list[int]:
        return [i for line in self.processor.encode(text.splitlines()) for i in line]

    def piece(self, index: int) -> str:
        return self.processor.id_to_piece(index)

    def decode(self, ids) -> str:
        """The text of `ids`, each [MASK] written out (sentencepiece drops control symbols)."""
        parts, current = [], []
        for i in ids:
            if i == self.mask:
                parts, current = [*parts, self.processor.decode(current), "[MASK]"], []
            else:
                current.append(i)
        return " ".join(part.strip() for part in [*parts, self.processor.decode(current)] if part.strip())


def train_bpe(sentencepiece, text: str, vocab_size: int, model) -> None:
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(line for line in text.splitlines() if line.strip()),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        pad_id=PAD,
        unk_id=UNK,
        bos_id=-1,
        eos_id=-1,
        control_symbols=list(SPECIALS),
        character_coverage=1.0,
        byte_fallback=True,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )


@dataclass
class PackedText:
    train: torch.Tensor  # (N, block_size) [CLS] ... [SEP] windows of the training split, on the device
    val: torch.Tensor  # (M, block_size) of the validation split
    pieces: Pieces


def load_packed_text(cfg: MaskedTextConfig, device) -> PackedText:
    """Split the corpus (the last val_fraction validates), train the vocabulary on the training part only, and
    pack both parts into windows."""
    text = DATASETS[cfg.source](cfg)
    cut = int(len(text) * (1 - cfg.val_fraction))
    pieces = Pieces.train(text[:cut], cfg.vocab_size)
    windows = [
        pack(pieces, part, cfg.block_size, name)
        for part, name in ((text[:cut], "training"), (text[cut:], "validation"))
    ]
    return PackedText(windows[0].to(device), windows[1][: cfg.val_sequences].to(device), pieces)


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
        starts = pieces.word_start.to(ids.device)[ids] | special
        position = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        word_start = torch.where(starts, position, 0).cummax(dim=1).values
        chosen = (chosen & starts).gather(1, word_start) & ~special
    action = draw()
    to_mask = chosen & (action < cfg.replace_with_mask)
    to_random = chosen & ~to_mask & (action < cfg.replace_with_mask + cfg.replace_with_random)
    randoms = torch.randint(pieces.first_normal, len(pieces), ids.shape, generator=generator, device=ids.device)
    inputs = torch.where(to_mask, pieces.mask, torch.where(to_random, randoms, ids))
    return inputs, torch.where(chosen, ids, IGNORE)
