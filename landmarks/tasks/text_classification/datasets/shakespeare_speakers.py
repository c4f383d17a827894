"""Who says this line? The lines of Tiny Shakespeare's most frequent speakers, labelled with the speaker: real text
whose labels come from the text itself. Validation and test lines come from the held-out speeches
(landmarks/datasets.py, every fifth, alternately), which the masked LM's pretraining never trains on."""

from collections import Counter
from dataclasses import dataclass

from landmarks.datasets import shakespeare_speeches
from landmarks.schema import integer, rule
from landmarks.tasks.text_classification.datasets import DATASETS, Labelled, TextClassificationConfig


@dataclass
class SpeakersConfig(TextClassificationConfig):
    speakers: int = rule(integer(2), "a number of speakers >= 2, e.g. data.speakers=10", default=10)


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
        split += [(line, None, speech.speaker) for line in speech.text.splitlines()[1:] if line.strip()]
    return splits
