"""Any UTF-8 text file, read whole."""

from dataclasses import dataclass

from landmarks.datasets import text_file
from landmarks.schema import rule
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig


@dataclass
class TextFileConfig(TextDataConfig):
    path: str = rule(lambda path: isinstance(path, str) and path.strip(), "a UTF-8 text file")


@DATASETS.register("text", config=TextFileConfig)
def load(cfg: TextFileConfig) -> str:
    return text_file(cfg.path)
