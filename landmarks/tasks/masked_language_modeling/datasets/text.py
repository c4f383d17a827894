"""Any UTF-8 text file, read whole."""

from dataclasses import dataclass

from landmarks.datasets import text_file, text_path
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig


@dataclass
class MaskedTextFileConfig(MaskedTextConfig):
    path: str = text_path()


@DATASETS.register("text", config=MaskedTextFileConfig)
def load(cfg: MaskedTextFileConfig) -> str:
    return text_file(cfg.path)
