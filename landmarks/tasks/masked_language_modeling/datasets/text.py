"""Any UTF-8 text file, read whole."""

from dataclasses import dataclass

from landmarks.datasets import text_file
from landmarks.schema import rule
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig


@dataclass
class MaskedTextFileConfig(MaskedTextConfig):
    path: str = rule(lambda path: isinstance(path, str) and path.strip(), "a UTF-8 text file")


@DATASETS.register("text", config=MaskedTextFileConfig)
def load(cfg: MaskedTextFileConfig) -> str:
    return text_file(cfg.path)
