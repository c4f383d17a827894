"""Sentence pairs from a TSV file of `source<TAB>target` lines (as in the Tatoeba/ManyThings pair files),
deduplicated and split with a seed so that no held-out source sentence is trained on."""

import io
import random
from dataclasses import dataclass
from pathlib import Path

from landmarks.datasets import TextError, read_utf8
from landmarks.schema import integer, rule
from landmarks.tasks.translation.datasets import DATASETS, TranslationDataConfig
from landmarks.tasks.translation.tokenizers import normalize


@dataclass
class TSVConfig(TranslationDataConfig):
    path: str = rule(lambda path: isinstance(path, str) and path.strip(), "a TSV file of source<TAB>target lines")
    split_seed: int = rule(integer(0), "an integer >= 0", default=0)  # draws the test and validation pairs


@DATASETS.register("tsv", config=TSVConfig)
def load(cfg: TSVConfig) -> dict[str, list[tuple[str, str]]]:
    return clean_split(read_tsv(cfg.path), cfg.val_size, cfg.test_size, cfg.split_seed, cfg.path)


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


def clean_split(
    pairs: list[tuple[str, str]], val_size: int, test_size: int, seed: int, path
) -> dict[str, list[tuple[str, str]]]:
    """Test, validation and training pairs of a corpus, clean: repeated pairs kept once; the held-out pairs drawn
    with `seed`, one per source sentence; every pair whose source is held out left out of training (sources
    compared after normalisation, ignoring case), so no test sentence is trained on under another translation."""
    unique = list(dict.fromkeys((source.strip(), target.strip()) for source, target in pairs))
    random.Random(seed).shuffle(unique)
    keys = [normalize(source).casefold() for source, _ in unique]
    held_out, held_sources = [], set()
    for pair, key in zip(unique, keys):
        if len(held_out) < val_size + test_size and key not in held_sources:
            held_out.append(pair)
            held_sources.add(key)
    train = [pair for pair, key in zip(unique, keys) if key not in held_sources]
    if len(held_out) < val_size + test_size or not train:
        raise ValueError(
            f"{path} holds {len(unique)} distinct pairs of {len(set(keys))} distinct source sentences: too few "
            f"for data.val_size={val_size} and data.test_size={test_size} held-out sources and a training split; "
            "lower them"
        )
    return {"test": held_out[:test_size], "val": held_out[test_size:], "train": train}
