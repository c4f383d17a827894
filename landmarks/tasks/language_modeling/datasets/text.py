"""Any UTF-8 text file, read whole."""

from dataclasses import dataclass

from landmarks.datasets import text_file, text_path
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig


@dataclass
class TextFileConfig(TextDataConfig):
    path: str = text_path()


@DATASETS.register("text", config=TextFileConfig)
def load(cfg: TextFileConfig) -> str:
    return text_file(cfg.path)
