"""The default translation task, generated deterministically in a second: English-like sentences (subject,
verb, object, prepositional phrases; SVO) into an invented head-final language (SOV, postpositions,
adjectives after the noun in reverse order, case particles, verb suffixes).

It needs attention rather than a fixed-size summary: the verb moves from the middle to the end and the
object before it; a sentence's first word ("yesterday", "tomorrow") sets the tense suffix near its end; the
subject's number sets the verb's last suffix, a dozen words later; lengths run from 5 to 22 words (to about 50 with
`max_phrases=8`: long sentences, for Bahdanau et al.'s Fig. 2).

    yesterday the big dogs did not see a cat near the river
 -> <yesterday> ne <dog> ra <big> ga ne <river> soba <cat> o <see> ta nai mas

(<word> is the word's invented translation, a fixed string such as "tovu".)
"""

import random
from dataclasses import dataclass

from landmarks.schema import integer, rule
from landmarks.tasks.translation.datasets import DATASETS, TranslationDataConfig

NOUNS = {  # singular -> plural
    "cat": "cats",
    "dog": "dogs",
    "bird": "birds",
    "child": "children",
    "teacher": "teachers",
    "farmer": "farmers",
    "king": "kings",
    "horse": "horses",
    "fox": "foxes",
    "girl": "girls",
    "boy": "boys",
    "woman": "women",
    "man": "men",
    "mouse": "mice",
    "doctor": "doctors",
    "friend": "friends",
}
PLACES = ("garden", "river", "house", "forest", "market", "school", "village", "castle")
ADJECTIVES = ("big", "small", "old", "young", "red", "green", "happy", "sad", "quick", "lazy", "tall", "clever")
VERBS = {  # base -> (third person singular, past)
    "see": ("sees", "saw"),
    "chase": ("chases", "chased"),
    "find": ("finds", "found"),
    "follow": ("follows", "followed"),
    "like": ("likes", "liked"),
    "help": ("helps", "helped"),
    "watch": ("watches", "watched"),
    "carry": ("carries", "carried"),
    "draw": ("draws", "drew"),
    "feed": ("feeds", "fed"),
    "meet": ("meets", "met"),
    "call": ("calls", "called"),
}
PREPOSITIONS = {"in": "de", "near": "soba", "behind": "ushiro", "with": "to"}  # -> postposition
TIMES = {"yesterday": "ta", "today": "ru", "tomorrow": "u"}  # -> tense suffix; no time word: present, "ru"
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def invented_lexicon(seed: int = 0) -> dict[str, str]:
    """A fixed two-syllable invented word for every content word."""
    rng, lexicon, used = random.Random(seed), {}, set()
    for word in sorted([*NOUNS, *PLACES, *ADJECTIVES, *VERBS, *TIMES]):
        while (candidate := rng.choice(SYLLABLES) + rng.choice(SYLLABLES)) in used:
            pass
        lexicon[word] = candidate
        used.add(candidate)
    return lexicon


LEXICON = invented_lexicon()


def noun_phrase(rng: random.Random, nouns, plural: bool) -> tuple[list[str], list[str]]:
    """ "the big red dogs" -> "ne <dog> ra <red> <big>"; "a cat" -> "<cat>"."""
    noun = rng.choice(sorted(nouns))
    adjectives = rng.sample(ADJECTIVES, rng.choice((0, 0, 1, 2)))
    definite = rng.random() < 0.5
    determiner = "the" if definite else ("some" if plural else "a")
    source = [determiner, *adjectives, NOUNS[noun] if plural else noun]
    target = (
        (["ne"] if definite else [])
        + [LEXICON[noun]]
        + (["ra"] if plural else [])
        + [LEXICON[a] for a in reversed(adjectives)]
    )
    return source, target


def sentence_pair(rng: random.Random, max_phrases: int = 2) -> tuple[str, str]:
    """A pair with 0 to `max_phrases` prepositional phrases (each count but the largest twice as likely)."""
    time = rng.choice([None, None, None, *TIMES])
    negated = rng.random() < 0.3
    plural = rng.random() < 0.5
    subject_src, subject_tgt = noun_phrase(rng, NOUNS, plural)
    object_src, object_tgt = noun_phrase(rng, NOUNS, rng.random() < 0.5)
    verb = rng.choice(sorted(VERBS))
    third, past = VERBS[verb]
    if time == "yesterday":
        verb_src = ["did", "not", verb] if negated else [past]
    elif time == "tomorrow":
        verb_src = ["will", "not", verb] if negated else ["will", verb]
    else:
        verb_src = [("do" if plural else "does"), "not", verb] if negated else [verb if plural else third]
    phrases_src, phrases_tgt = [], []
    for _ in range(rng.choice([*(count for count in range(max_phrases) for _ in "ab"), max_phrases])):
        preposition = rng.choice(sorted(PREPOSITIONS))
        np_src, np_tgt = noun_phrase(rng, NOUNS if preposition == "with" else dict.fromkeys(PLACES), False)
        phrases_src += [preposition, *np_src]
        phrases_tgt += [*np_tgt, PREPOSITIONS[preposition]]
    source = ([time] if time else []) + subject_src + verb_src + object_src + phrases_src
    target = (
        ([LEXICON[time]] if time else [])
        + subject_tgt
        + ["ga"]
        + phrases_tgt
        + object_tgt
        + ["o"]
        + [LEXICON[verb], TIMES.get(time, "ru")]
        + (["nai"] if negated else [])
        + (["mas"] if plural else [])
    )
    return " ".join(source), " ".join(target)


def generate_pairs(count: int, seed: int, max_phrases: int = 2) -> list[tuple[str, str]]:
    """`count` distinct sentence pairs, the same for the same seed."""
    rng, pairs, seen = random.Random(seed), [], set()
    while len(pairs) < count:
        pair = sentence_pair(rng, max_phrases)
        if pair[0] not in seen:
            seen.add(pair[0])
            pairs.append(pair)
    return pairs


@dataclass
class SyntheticConfig(TranslationDataConfig):
    generator_seed: int = rule(integer(0), "an integer >= 0", default=1234)  # the sentences and the splits
    train_size: int = rule(integer(1), "a number of samples >= 1", default=20000)
    max_phrases: int = rule(integer(0), "a number of phrases >= 0", default=2)  # longer sentences with more


@DATASETS.register("synthetic", config=SyntheticConfig)
def load(cfg: SyntheticConfig) -> dict[str, list[tuple[str, str]]]:
    pairs = generate_pairs(cfg.train_size + cfg.val_size + cfg.test_size, cfg.generator_seed, cfg.max_phrases)
    return {
        "train": pairs[: cfg.train_size],
        "val": pairs[cfg.train_size : cfg.train_size + cfg.val_size],
        "test": pairs[-cfg.test_size :],
    }
