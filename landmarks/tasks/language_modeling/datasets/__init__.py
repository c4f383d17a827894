"""The corpora of language modelling, one file each, registered in DATASETS under their `data.source` name with
the schema of the `data.*` keys they read. A loader takes that typed config and returns the corpus's text;
data.py encodes it. A new corpus is one file here and one configs/data/ file."""

from dataclasses import dataclass

from landmarks.registry import Registry
from landmarks.schema import integer, open_fraction, rule
from landmarks.tasks.base import DataConfig

DATASETS = Registry("text corpus", "data.source", package=__name__)


@dataclass
class TextDataConfig(DataConfig):
    """The `data.*` keys every corpus reads (configs/data/*.yaml says each one's use)."""

    task: str = "language_modeling"
    level: str = rule(lambda level: level in ("char", "byte"), "char or byte", default="char")
    val_fraction: float = rule(open_fraction, "a fraction in (0, 1), e.g. data.val_fraction=0.1", default=0.1)
    block_size: int = rule(integer(1), "a context length >= 1, e.g. data.block_size=64", default=64)
    val_windows: int = rule(integer(1), "a number of windows >= 1", default=240)
    sample_prompt: str | None = None
    sample_length: int = rule(integer(1), "a number of tokens >= 1", default=200)
