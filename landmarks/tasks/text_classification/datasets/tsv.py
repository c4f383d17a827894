"""Any labelled text a user brings: a TSV file of `text<TAB>label` lines, or `text_a<TAB>text_b<TAB>label` for
pairs (GLUE's sentence-pair tasks: entailment, paraphrase), labels as names or integers. The held-out examples
are drawn with a seed."""

import random
from dataclasses import dataclass
from pathlib import Path

from landmarks.datasets import TextError, read_utf8
from landmarks.schema import integer, open_fraction, rule
from landmarks.tasks.text_classification.datasets import DATASETS, Example, Labelled, TextClassificationConfig


@dataclass
class LabelledTSVConfig(TextClassificationConfig):
    path: str = rule(lambda path: isinstance(path, str) and path.strip(), "a TSV file of text<TAB>label lines")
    val_fraction: float = rule(open_fraction, "a fraction in (0, 1), e.g. data.val_fraction=0.1", default=0.1)
    test_fraction: float = rule(open_fraction, "a fraction in (0, 1), e.g. data.test_fraction=0.1", default=0.1)
    split_seed: int = rule(integer(0), "an integer >= 0", default=0)  # draws the test and validation examples


@DATASETS.register("tsv", config=LabelledTSVConfig)
def load(cfg: LabelledTSVConfig) -> Labelled:
    examples = read_labelled(Path(cfg.path).expanduser())
    random.Random(cfg.split_seed).shuffle(examples)
    test, val = round(len(examples) * cfg.test_fraction), round(len(examples) * cfg.val_fraction)
    if not test or not val or test + val >= len(examples):
        raise TextError(
            f"data.path={cfg.path} holds {len(examples)} examples: too few for data.test_fraction="
            f"{cfg.test_fraction} and data.val_fraction={cfg.val_fraction} to leave a test, a validation and a "
            "training example; bring more examples"
        )
    return Labelled(examples[test + val :], examples[test : test + val], examples[:test])


def read_labelled(path: Path) -> list[Example]:
    """The examples of `path`: every non-blank line has the same 2 (text, label) or 3 (text_a, text_b, label)
    tab-separated columns, none empty; otherwise TextError naming the line."""
    if not path.is_file():
        raise TextError(f"data.path={path}: no such file; point it at a TSV file of text<TAB>label lines")
    examples, columns = [], None
    for number, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        columns = columns or len(fields)
        if len(fields) not in (2, 3) or len(fields) != columns or not all(fields):
            shapes = {2: "'text<TAB>label'", 3: "'text_a<TAB>text_b<TAB>label'"}
            expected = shapes.get(columns, " or ".join(shapes.values()))
            raise TextError(f"{path}:{number}: expected {expected} as every line, got {line!r}")
        examples.append((fields[0], fields[1] if columns == 3 else None, fields[-1]))
    if not examples:
        raise TextError(f"{path} holds no examples; expected lines of 'text<TAB>label'")
    return examples
