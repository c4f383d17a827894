"""Labelled examples as padded subword ids: [CLS] text [SEP] (and text_b [SEP] for a pair, segment 1), cut to
data.block_size tokens longest-first as BERT's run_classifier.py does. The vocabulary is the pretraining run's
under model.init_from, else trained on the training texts only (landmarks/tasks/pieces.py)."""

from collections import Counter
from dataclasses import dataclass

import torch

from landmarks.datasets import TextError
from landmarks.tasks.pieces import PAD, Pieces
from landmarks.tasks.text_classification.datasets import Example, Labelled


@dataclass
class Encoded:
    ids: torch.Tensor  # (N, block_size) token ids, PAD after each sequence, on the device
    segments: torch.Tensor  # (N, block_size) 0 for the first text, 1 for the second
    labels: torch.Tensor  # (N,) class indices, on the device
    lengths: torch.Tensor  # (N,) tokens of each sequence, on the CPU: batches are cut to their longest


def label_names(train: list[Example]) -> list[str]:
    """The classes of the training split: numerically ordered integers, else sorted names. A class with a
    single training example raises TextError: nothing could be learnt or validated of it."""
    counts = Counter(label for _, _, label in train)
    rare = sorted(label for label, count in counts.items() if count < 2)
    if rare:
        raise TextError(
            f"class {rare[0]!r} has a single training example ({len(rare)} such classes); give each class more "
            "examples or drop those lines"
        )
    numeric = all(label.lstrip("-").isdigit() for label in counts)
    return sorted(counts, key=int if numeric else str)


def few(train: list[Example], size: int | None, seed: int) -> list[Example]:
    """`size` training examples (all if None), a seeded draw spread evenly over the classes, as few-shot benchmarks
    draw k a class, so that every class is still learnt and validated (Howard and Ruder 2018, Fig. 3's x axis)."""
    if size is None:
        return train
    classes = label_names(train)
    if not 2 * len(classes) <= size <= len(train):
        raise ValueError(
            f"data.train_size={size}: give at least 2 examples for each of the {len(classes)} classes and at most "
            f"the {len(train)} there are ({2 * len(classes)} to {len(train)}), or null for all"
        )
    order, drawn, keyed = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist(), {}, []
    for i in order:  # the k-th drawn example of its class sorts before every class's (k+1)-th
        label = train[i][2]
        drawn[label] = drawn.get(label, 0) + 1
        keyed.append((drawn[label], classes.index(label), i))
    return [train[i] for i in sorted(i for *_, i in sorted(keyed)[:size])]


def check_labels(examples: list[Example], classes: list[str], split: str) -> None:
    unknown = sorted({label for _, _, label in examples} - set(classes))
    if unknown:
        raise TextError(
            f"the {split} split has class {unknown[0]!r}, which no training example has; give it training examples "
            "or drop its lines"
        )


def encode(examples: list[Example], pieces: Pieces, classes: list[str], block_size: int, device) -> Encoded:
    index = {name: i for i, name in enumerate(classes)}
    rows = [sequence(pieces, text, second, block_size) for text, second, _ in examples]
    ids, segments = padded(rows, block_size)
    labels = torch.tensor([index[label] for _, _, label in examples])
    lengths = torch.tensor([len(tokens) for tokens, _ in rows])
    return Encoded(ids.to(device), segments.to(device), labels.to(device), lengths)


def padded(rows: list[tuple[list[int], list[int]]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, segment ids) of `sequence`'s rows as (N, width) tensors, PAD (segment 0) after each."""
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    segments = torch.zeros_like(ids)
    for row, (tokens, segment) in enumerate(rows):
        ids[row, : len(tokens)], segments[row, : len(segment)] = torch.tensor(tokens), torch.tensor(segment)
    return ids, segments


def sequence(pieces: Pieces, text: str, second: str | None, block_size: int) -> tuple[list[int], list[int]]:
    """([CLS] a [SEP] (b [SEP]), segment ids), the longer text shortened a token at a time until it fits."""
    a, b = pieces.encode(text), pieces.encode(second) if second is not None else None
    room = block_size - (3 if b is not None else 2)
    while len(a) + len(b or []) > room:
        if b is not None and len(b) > len(a):
            b.pop()
        else:
            a.pop()
    tokens = [pieces.cls, *a, pieces.sep] + ([*b, pieces.sep] if b is not None else [])
    return tokens, [0] * (len(a) + 2) + [1] * (len(tokens) - len(a) - 2)


@dataclass
class LabelledIds:
    splits: dict[str, Encoded]  # train, val, test
    classes: list[str]
    pieces: Pieces


def encode_splits(labelled: Labelled, pieces: Pieces | None, vocab_size: int, block_size: int, device) -> LabelledIds:
    """Every split encoded with `pieces` (the pretraining run's), or with a vocabulary trained on the training
    texts when there is none."""
    classes = label_names(labelled.train)
    for split in ("val", "test"):
        check_labels(getattr(labelled, split), classes, split)
    if pieces is None:
        texts = [text for example in labelled.train for text in example[:2] if text is not None]
        pieces = Pieces.train("\n".join(texts), vocab_size)
    splits = {
        split: encode(getattr(labelled, split), pieces, classes, block_size, device)
        for split in ("train", "val", "test")
    }
    return LabelledIds(splits, classes, pieces)
