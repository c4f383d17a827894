"""The labelled corpora of text classification, one file each, registered in DATASETS under their `data.source`
name with the schema of the `data.*` keys they read. A loader returns `Labelled` examples; data.py encodes them."""

from dataclasses import dataclass

from landmarks.registry import Registry
from landmarks.schema import integer, rule
from landmarks.tasks.base import DataConfig

DATASETS = Registry("labelled text corpus", "data.source", package=__name__)

Example = tuple[str, str | None, str]  # (text, second text of a pair or None, label)


@dataclass
class Labelled:
    train: list[Example]
    val: list[Example]
    test: list[Example]


@dataclass
class TextClassificationConfig(DataConfig):
    """The `data.*` keys every corpus reads (configs/data/shakespeare_speakers.yaml says each one's use)."""

    task: str = "text_classification"
    vocab_size: int = rule(integer(16), "a number of subword pieces >= 16, e.g. data.vocab_size=2000", default=2000)
    block_size: int = rule(integer(4), "a sequence length >= 4 tokens, e.g. data.block_size=64", default=64)
    train_size: int | None = rule(integer(1), "a number of training examples >= 1, or null for all", default=None)
