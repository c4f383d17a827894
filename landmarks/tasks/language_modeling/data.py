"""A text corpus as one stream of token ids resident on the device, for language modelling.

The text comes from the corpus that `data.source` names (datasets/: shakespeare_char, text), read at character
level (the sorted characters of the whole file, as nanoGPT does) or byte level (256 ids: any language, any
file). The first (1 - val_fraction) of the stream trains, the rest validates.
"""

from dataclasses import dataclass

import torch

from landmarks.datasets import TextError
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig


class Codec:
    """Text <-> ids: characters (a given alphabet) or the bytes of UTF-8 (alphabet None, 256 ids)."""

    def __init__(self, alphabet: str | None):
        self.alphabet = alphabet
        self.stoi = {char: i for i, char in enumerate(alphabet)} if alphabet is not None else None

    def __len__(self) -> int:
        return 256 if self.alphabet is None else len(self.alphabet)

    @property
    def unit(self) -> str:
        return "byte" if self.alphabet is None else "character"

    def encode(self, text: str) -> list[int]:
        if self.stoi is None:
            return list(text.encode("utf-8"))
        unknown = sorted(set(text) - self.stoi.keys())
        if unknown:
            raise TextError(f"characters {unknown} are not in the corpus's alphabet; use data.level=byte for any text")
        return [self.stoi[char] for char in text]

    def decode(self, ids) -> str:
        if self.alphabet is None:
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.alphabet[i] for i in ids)


@dataclass
class TokenStream:
    train: torch.Tensor  # (N_train,) int64 ids, on the device
    val: torch.Tensor  # (N_val,)
    codec: Codec


def load_token_stream(cfg: TextDataConfig, device) -> TokenStream:
    """Encode the corpus once and split it: the first (1 - data.val_fraction) trains, the rest validates."""
    text = DATASETS[cfg.source](cfg)
    codec = Codec(None if cfg.level == "byte" else "".join(sorted(set(text))))
    ids = torch.tensor(codec.encode(text), dtype=torch.long)
    split = int(len(ids) * (1 - cfg.val_fraction))
    train, val = ids[:split], ids[split:]
    shortest = min(len(train), len(val))
    if shortest <= cfg.block_size:
        raise TextError(
            f"the corpus's {'validation' if len(val) <= len(train) else 'training'} split holds {shortest} "
            f"{codec.unit}s, too few for windows of data.block_size={cfg.block_size} + 1; lower data.block_size "
            "or use a longer text"
        )
    return TokenStream(train.to(device), val.to(device), codec)
