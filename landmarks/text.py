"""Text for translation: normalisation, word or character tokens, a vocabulary with special tokens, and
sentence pairs read from TSV files (`source<TAB>target` lines, as in the Tatoeba/ManyThings pairs)."""

import io
import re
import unicodedata
from collections import Counter
from pathlib import Path

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)


class TextError(ValueError):
    """Malformed text input; the message names the file, the line and the fix."""


def normalize(text: str) -> str:
    """Unicode NFKC, lower case, punctuation split from words, single spaces: "Hi, Tom!" -> "hi , tom !"."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"([^\w\s'])", r" \1 ", text)
    return " ".join(text.split())


def tokenize(text: str, level: str) -> list[str]:
    """ "word": split on spaces; "char": every character (spaces included)."""
    if level == "word":
        return text.split()
    if level == "char":
        return list(text)
    raise ValueError(f"tokenization level {level!r}; use word or char")


def detokenize(tokens: list[str], level: str) -> str:
    return " ".join(tokens) if level == "word" else "".join(tokens)


class Vocab:
    """Token <-> id, with <pad>=0, <bos>=1, <eos>=2, <unk>=3 first, then tokens by falling frequency (ties
    alphabetically, so that the same sentences always give the same ids)."""

    def __init__(self, tokens: list[str]):
        self.itos = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        self.stoi = {token: i for i, token in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences, min_freq: int = 1) -> "Vocab":
        counts = Counter(token for sentence in sentences for token in sentence)
        return cls(sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str], unknown: str = "unk") -> list[int]:
        """Ids of `tokens` followed by <eos>. unknown="unk" maps tokens outside the vocabulary to <unk>;
        unknown="error" raises instead, naming the token."""
        if unknown == "error":
            missing = [t for t in tokens if t not in self.stoi]
            if missing:
                raise KeyError(
                    f"unknown token {missing[0]!r} (not among the {len(self)} tokens of the "
                    "vocabulary built from the training split); use unknown='unk' to map it to <unk>"
                )
        return [self.stoi.get(t, UNK) for t in tokens] + [EOS]

    def decode(self, ids) -> list[str]:
        """Tokens of `ids` up to the first <eos>, without <bos> and <pad>."""
        tokens = []
        for i in ids:
            if i == EOS:
                break
            if i not in (BOS, PAD):
                tokens.append(self.itos[i])
        return tokens


def read_utf8(path: Path) -> str:
    """The text of `path`; a file that is not UTF-8 raises TextError naming the line, the byte and the fix."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise TextError(
            f"{path}:{line}: byte 0x{data[error.start]:02x} is not UTF-8; convert the file, e.g. "
            f"`iconv -f latin1 -t utf-8 {path} > {path}.utf8`, and point data.path at the result"
        ) from None


def read_tsv(path: Path) -> list[tuple[str, str]]:
    """Sentence pairs from `source<TAB>target[<TAB>anything]` lines (Tatoeba's attribution column is dropped).
    Blank lines are skipped; an empty file, a line without a tab or with an empty side raise TextError."""
    path = Path(path)
    if not path.exists():
        raise TextError(f"{path} not found; set data.path to a TSV file of source<TAB>target lines")
    pairs = []
    with io.StringIO(read_utf8(path), newline=None) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                raise TextError(f"{path}:{number}: expected 'source<TAB>target', got {line.rstrip()!r}")
            pairs.append((fields[0], fields[1]))
    if not pairs:
        raise TextError(f"{path} holds no sentence pairs; expected lines of 'source<TAB>target'")
    return pairs
