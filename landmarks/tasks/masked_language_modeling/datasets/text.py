"""Any UTF-8 text file, read whole; its last val_fraction is held out, its first half validating and its second
half testing."""

from dataclasses import dataclass

from landmarks.datasets import text_file, text_path
from landmarks.schema import open_fraction, rule
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig


@dataclass
class MaskedTextFileConfig(MaskedTextConfig):
    path: str = text_path()
    val_fraction: float = rule(open_fraction, "a fraction in (0, 1), e.g. data.val_fraction=0.1", default=0.1)


@DATASETS.register("text", config=MaskedTextFileConfig)
def load(cfg: MaskedTextFileConfig) -> tuple[str, str, str]:
    text = text_file(cfg.path)
    cut = int(len(text) * (1 - cfg.val_fraction))
    middle = (cut + len(text)) // 2
    return text[:cut], text[cut:middle], text[middle:]
