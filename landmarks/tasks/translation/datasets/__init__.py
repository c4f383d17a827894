"""The datasets of translation, one file each, registered in DATASETS under their `data.source` name with the
schema of the `data.*` keys they read. A loader takes that typed config and returns the raw sentence pairs of
each split, {"train": [(source, target), ...], "val": ..., "test": ...}; data.py tokenizes them. A new dataset
is one file here and one configs/data/ file."""

from dataclasses import dataclass

from landmarks.registry import Registry
from landmarks.schema import integer, rule
from landmarks.tasks.base import DataConfig

DATASETS = Registry("translation dataset", "data.source", package=__name__)


@dataclass
class TranslationDataConfig(DataConfig):
    """The `data.*` keys every translation dataset reads (configs/data/*.yaml says each one's use)."""

    task: str = "translation"
    level: str = rule(lambda level: level in ("subword", "word", "char"), "subword, word or char", default="subword")
    vocab_size: int = rule(integer(260), "a number of subword pieces >= 260 (256 bytes and 4 specials)", default=8000)
    min_freq: int = rule(integer(1), "a count >= 1", default=1)
    max_len: int = rule(integer(1), "a number of tokens >= 1", default=64)
    beam_size: int = rule(integer(1), "a beam width >= 1 (1 = greedy)", default=4)
    val_size: int = rule(integer(0), "a number of samples >= 0", default=1000)
    test_size: int = rule(integer(1), "a number of samples >= 1", default=1000)
