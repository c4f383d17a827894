"""Who says this? Passages of Tiny Shakespeare's most frequent speakers (up to `passage_lines` consecutive lines
of one speech), labelled with the speaker: real text whose labels come from the text itself. Validation and test
passages come from the held-out speeches (landmarks/datasets.py, every fifth, alternately), which the masked LM's
pretraining never trains on."""

from collections import Counter
from dataclasses import dataclass

from landmarks.datasets import shakespeare_speeches
from landmarks.schema import integer, rule
from landmarks.tasks.text_classification.datasets import DATASETS, Labelled, TextClassificationConfig


@dataclass
class SpeakersConfig(TextClassificationConfig):
    speakers: int = rule(integer(2), "a number of speakers >= 2, e.g. data.speakers=10", default=10)
    passage_lines: int = rule(integer(1), "a number of lines >= 1, e.g. data.passage_lines=4", default=4)


@DATASETS.register("shakespeare_speakers", config=SpeakersConfig)
def load(cfg: SpeakersConfig) -> Labelled:
    speeches = [speech for speech in shakespeare_speeches() if "\n" in speech.text]  # a name alone says nothing
    frequent = {name for name, _ in Counter(speech.speaker for speech in speeches).most_common(cfg.speakers)}
    splits, held_out = Labelled([], [], []), 0
    for speech in speeches:
        if speech.speaker not in frequent:
            continue
        split = splits.train
        if speech.held_out:
            split, held_out = (splits.val, splits.test)[held_out % 2], held_out + 1
        lines = [line for line in speech.text.splitlines()[1:] if line.strip()]
        for begin in range(0, len(lines), cfg.passage_lines):
            split.append((" ".join(lines[begin : begin + cfg.passage_lines]), None, speech.speaker))
    return splits
