"""Text files: UTF-8 reading with a clear error, light normalisation, and sentence pairs read from TSV files
(`source<TAB>target` lines, as in the Tatoeba/ManyThings pairs). Tokenizers: landmarks/tokenizers.py."""

import io
import unicodedata
from pathlib import Path


class TextError(ValueError):
    """Malformed text input; the message names the file, the line and the fix."""


def normalize(text: str) -> str:
    """Unicode NFKC and single spaces, nothing else: the text keeps its case and punctuation, as standard BLEU
    scores it (Post 2018)."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


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
