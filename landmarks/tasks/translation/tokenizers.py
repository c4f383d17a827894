"""Tokenizers for translation: text <-> ids with <pad>=0, <bos>=1, <eos>=2, <unk>=3 first, one joint
vocabulary of the training split for both languages (so that the Transformer can share its embeddings, Sec. 3.4).

- "subword": byte-pair encoding (Sennrich et al. 2016), trained with sentencepiece (Kudo and Richardson 2018),
  as the Transformer paper's shared source-target BPE vocabulary (Sec. 5.1). Its pieces mark spaces ("▁"), so
  decoding gives back the text itself, cased and spaced: what standard BLEU scores. Byte fallback spells
  characters unseen in training as UTF-8 bytes, so no sentence gets an <unk>.
- "word": words and punctuation marks, a piece written without a space before it marked by a joiner
  ("Hi, Tom!" -> "Hi" "￭," "Tom" "￭!", as OpenNMT's tokenizer does), so that decoding is exact too and a word
  is one token wherever it stands; rare pieces map to <unk>.
- "char": every character.

`encode(text)` gives ids ending in <eos>; `decode(ids)` the text up to the first <eos>; `piece(id)` one token's
text (for the axes of alignment pictures); `state()` what `tokenizer_from_state` rebuilds it from.
"""

import re
import unicodedata
from collections import Counter

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
JOINER = "￭"  # U+FFED: no space before this piece
LEVELS = ("subword", "word", "char")


def normalize(text: str) -> str:
    """Unicode NFKC and single spaces, nothing else: the text keeps its case and punctuation, as standard BLEU
    scores it (Post 2018)."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


WORD = re.compile(r"\w+|[^\w\s]")  # a word, or one punctuation mark


def split_pieces(text: str, level: str) -> list[str]:
    """ "word": words and punctuation marks, those glued to what precedes them marked by JOINER; "char": characters."""
    if level == "word":  # in each run of non-spaces, every piece after the first is glued to the one before
        return [JOINER * (i > 0) + piece for chunk in text.split() for i, piece in enumerate(WORD.findall(chunk))]
    if level == "char":
        return list(text)
    raise ValueError(f"tokenization level {level!r}; use one of {LEVELS}")


def join_pieces(pieces: list[str], level: str) -> str:
    if level == "char":
        return "".join(pieces)
    return "".join(p[1:] if p.startswith(JOINER) else f" {p}" for p in pieces).removeprefix(" ")


class Vocab:
    """Token <-> id, specials first, then tokens by falling frequency (ties alphabetically, so that the same
    sentences always give the same ids)."""

    def __init__(self, tokens: list[str]):
        self.itos = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        self.stoi = {token: i for i, token in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences, min_freq: int = 1) -> "Vocab":
        counts = Counter(token for sentence in sentences for token in sentence)
        return cls(sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids of `tokens` (<unk> for those outside the vocabulary) followed by <eos>."""
        return [self.stoi.get(t, UNK) for t in tokens] + [EOS]

    def decode(self, ids) -> list[str]:
        """Tokens of `ids` up to the first <eos>, without <bos> and <pad>."""
        return [self.itos[i] for i in until_eos(ids)]


def until_eos(ids) -> list[int]:
    """`ids` up to the first <eos>, without <bos> and <pad>."""
    kept = []
    for i in ids:
        if i == EOS:
            break
        if i not in (BOS, PAD):
            kept.append(i)
    return kept


class PieceTokenizer:
    """Word or character pieces with a Vocab of the training split."""

    def __init__(self, level: str, vocab: Vocab):
        self.level, self.vocab = level, vocab

    @classmethod
    def train(cls, sentences: list[str], level: str, min_freq: int) -> "PieceTokenizer":
        return cls(level, Vocab.build((split_pieces(s, level) for s in sentences), min_freq))

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(split_pieces(text, self.level))

    def decode(self, ids) -> str:
        return join_pieces(self.vocab.decode(ids), self.level)

    def piece(self, index: int) -> str:
        return self.vocab.itos[index]

    def state(self) -> dict:
        return {"level": self.level, "itos": self.vocab.itos[len(SPECIALS) :]}


class SubwordTokenizer:
    """A sentencepiece BPE model, kept as its serialised bytes."""

    def __init__(self, model: bytes):
        import sentencepiece  # imported late: only subword runs need it

        self.model, self.processor = model, sentencepiece.SentencePieceProcessor(model_proto=model)
        self.level = "subword"

    @classmethod
    def train(cls, sentences: list[str], vocab_size: int) -> "SubwordTokenizer":
        """BPE of at most `vocab_size` pieces (fewer if the text has fewer), deterministic for the same text."""
        import io

        import sentencepiece

        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="bpe",
            **{f"{name}_id": index for name, index in zip(("pad", "bos", "eos", "unk"), range(4))},
            character_coverage=1.0,
            byte_fallback=True,
            hard_vocab_limit=False,
            num_threads=1,
            minloglevel=2,
        )
        return cls(model.getvalue())

    def __len__(self) -> int:
        return len(self.processor)

    def encode(self, text: str) -> list[int]:
        return self.processor.encode(text) + [EOS]

    def decode(self, ids) -> str:
        return self.processor.decode(until_eos(ids))

    def piece(self, index: int) -> str:
        return self.processor.id_to_piece(index)

    def state(self) -> dict:
        return {"level": self.level, "model": self.model}


def train_tokenizer(sentences: list[str], level: str, *, min_freq: int = 1, vocab_size: int = 8000):
    """A tokenizer of `level` trained on `sentences` (both sides of the training split)."""
    if level == "subword":
        return SubwordTokenizer.train(sentences, vocab_size)
    return PieceTokenizer.train(sentences, level, min_freq)


def tokenizer_from_state(state: dict):
    if state["level"] == "subword":
        return SubwordTokenizer(state["model"])
    return PieceTokenizer(state["level"], Vocab(state["itos"]))
