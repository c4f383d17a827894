"""A subword vocabulary for the text tasks that share one (masked language modelling and the text classification
fine-tuned from it): a sentencepiece BPE model (Kudo and Richardson 2018) trained on a training split only, with
[PAD], [UNK], [CLS], [SEP] and [MASK]. BERT used WordPiece; sentencepiece is already this project's tokenizer
(translation), needs no pre-tokenisation, marks word starts ("▁") for whole-word masking, and is what carried
BERT-style models to many languages. Byte fallback spells unseen characters as bytes: no [UNK].
"""

import functools
import io
import re

import torch

from landmarks.datasets import TextError

PAD, UNK = 0, 1
SPECIALS = ("[CLS]", "[SEP]", "[MASK]")


class Pieces:
    """A sentencepiece model kept as its serialised bytes; ids of the specials; which pieces start a word."""

    def __init__(self, model: bytes):
        import sentencepiece  # imported late: only subword runs need it

        self.model, self.processor = model, sentencepiece.SentencePieceProcessor(model_proto=model)
        self.cls, self.sep, self.mask = (self.processor.piece_to_id(piece) for piece in SPECIALS)
        self.first_normal = max(self.cls, self.sep, self.mask) + 1  # random replacements come from here on
        pieces = [self.processor.id_to_piece(i) for i in range(len(self))]
        self.word_start = torch.tensor([piece.startswith("▁") for piece in pieces])
        self._word_start_on = {}  # device -> word_start there, copied once (a copy each step would wait for a GPU)

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "Pieces":
        """BPE of at most `vocab_size` pieces (fewer if the text has fewer), deterministic for the same text."""
        return cls(trained_bpe(text, vocab_size))

    def __len__(self) -> int:
        return len(self.processor)

    def encode(self, text: str) -> list[int]:
        return [i for line in self.processor.encode(text.splitlines()) for i in line]

    def word_starts(self, device: torch.device) -> torch.Tensor:
        """`word_start` (which pieces begin a word) on `device`."""
        if device not in self._word_start_on:
            self._word_start_on[device] = self.word_start.to(device)
        return self._word_start_on[device]

    def piece(self, index: int) -> str:
        return self.processor.id_to_piece(index)

    def top_guesses(self, logits: torch.Tensor, top: int) -> torch.Tensor:
        """The ids of the `top` likeliest pieces in `logits` (..., vocab), the specials ([MASK] itself, [CLS],
        [SEP], padding, unknown) left out: what a reader wants at a blank is a word."""
        specials = torch.arange(self.first_normal, device=logits.device)
        return logits.float().index_fill(-1, specials, -torch.inf).topk(top).indices

    def decode(self, ids) -> str:
        """The text of `ids`, each [MASK] written out (sentencepiece drops control symbols)."""
        parts, current = [], []
        for i in ids:
            if i == self.mask:
                parts, current = [*parts, self.processor.decode(current), "[MASK]"], []
            else:
                current.append(i)
        return " ".join(part.strip() for part in [*parts, self.processor.decode(current)] if part.strip())


@functools.lru_cache(maxsize=4)
def trained_bpe(text: str, vocab_size: int) -> bytes:
    """The serialised BPE model of `text`: trained once a process for the same text and size (it is deterministic;
    a claim's runs on one corpus, and the tests, ask for it again and again)."""
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
    return model.getvalue()


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
