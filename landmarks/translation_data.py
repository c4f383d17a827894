"""Sentence pairs as resident token-id tensors, and batches of similar lengths.

Sources: "synthetic" (landmarks/synthetic.py, generated offline), "tsv" (a file of source<TAB>target lines,
normalised, length-filtered and split with a seed) and "multi30k" (en-de image captions, downloaded and
checksum-verified by landmarks/datasets.py). One joint vocabulary of the training split serves both sides,
so the Transformer can share its embeddings (Sec. 3.4).
"""

import random
from dataclasses import dataclass

import torch

from landmarks.datasets import load_multi30k
from landmarks.synthetic import generate_pairs
from landmarks.text import BOS, PAD, Vocab, normalize, read_tsv, tokenize


@dataclass
class SentenceSplit:
    src: torch.Tensor  # (N, S) ids ending in <eos>, padded with <pad>, on the device
    tgt: torch.Tensor  # (N, 1 + T) ids: <bos>, the sentence, <eos>, padding
    src_lengths: torch.Tensor  # (N,) on the CPU, so that batches are cut without a device sync
    tgt_lengths: torch.Tensor
    pairs: list[tuple[str, str]]  # the normalised text, for BLEU and samples

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pairs at `index` (a CPU tensor), cut to their longest source and target."""
        src_len, tgt_len = int(self.src_lengths[index].max()), int(self.tgt_lengths[index].max())
        device_index = index.to(self.src.device)
        return self.src[device_index, :src_len], self.tgt[device_index, :tgt_len]


@dataclass
class TranslationData:
    train: SentenceSplit
    val: SentenceSplit
    test: SentenceSplit
    vocab: Vocab
    level: str  # "word" or "char"


def load_pairs(cfg) -> dict[str, list[tuple[str, str]]]:
    """The raw sentence pairs of each split, as `cfg` (configs/data/*.yaml) says."""
    if cfg.source == "synthetic":
        pairs = generate_pairs(cfg.train_size + cfg.val_size + cfg.test_size, cfg.generator_seed)
        return {
            "train": pairs[: cfg.train_size],
            "val": pairs[cfg.train_size : cfg.train_size + cfg.val_size],
            "test": pairs[-cfg.test_size :],
        }
    if cfg.source == "tsv":
        pairs = read_tsv(cfg.path)
        if cfg.val_size + cfg.test_size >= len(pairs):
            raise ValueError(
                f"{cfg.path} holds {len(pairs)} pairs, too few for "
                f"data.val_size={cfg.val_size} and data.test_size={cfg.test_size}"
            )
        random.Random(cfg.split_seed).shuffle(pairs)
        val_end = cfg.val_size + cfg.test_size
        return {"test": pairs[: cfg.test_size], "val": pairs[cfg.test_size : val_end], "train": pairs[val_end:]}
    if cfg.source == "multi30k":
        return load_multi30k(cfg.root, cfg.download, tuple(cfg.languages))
    raise ValueError(f"data.source={cfg.source!r}; use synthetic, tsv or multi30k")


def to_split(
    pairs: list[tuple[str, str]], tokens: list[tuple[list[str], list[str]]], vocab: Vocab, device
) -> SentenceSplit:
    """`pairs` as text and as tokens -> a resident split of padded ids."""
    src = [torch.tensor(vocab.encode(s)) for s, _ in tokens]
    tgt = [torch.tensor([BOS] + vocab.encode(t)) for _, t in tokens]
    pad = torch.nn.utils.rnn.pad_sequence
    return SentenceSplit(
        src=pad(src, batch_first=True, padding_value=PAD).to(device),
        tgt=pad(tgt, batch_first=True, padding_value=PAD).to(device),
        src_lengths=torch.tensor([len(s) for s in src]),
        tgt_lengths=torch.tensor([len(t) for t in tgt]),
        pairs=pairs,
    )


def load_translation_data(cfg, device) -> TranslationData:
    """Normalise and tokenise, drop pairs longer than `cfg.max_len` tokens on either side (training split
    only: the evaluation splits stay whole), build the vocabulary of the training split, and move every split
    to `device`."""
    splits = {name: [(normalize(s), normalize(t)) for s, t in pairs] for name, pairs in load_pairs(cfg).items()}
    tokens = {
        name: [(tokenize(s, cfg.level), tokenize(t, cfg.level)) for s, t in pairs] for name, pairs in splits.items()
    }
    kept = [i for i, (s, t) in enumerate(tokens["train"]) if max(len(s), len(t)) <= cfg.max_len]
    if not kept:
        raise ValueError(f"no training pair is at most data.max_len={cfg.max_len} tokens long; raise data.max_len")
    splits["train"], tokens["train"] = [splits["train"][i] for i in kept], [tokens["train"][i] for i in kept]
    vocab = Vocab.build((side for pair in tokens["train"] for side in pair), cfg.min_freq)
    return TranslationData(
        **{name: to_split(pairs, tokens[name], vocab, device) for name, pairs in splits.items()},
        vocab=vocab,
        level=cfg.level,
    )


def length_grouped_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator, pool: int = 32
) -> list[torch.Tensor]:
    """One epoch's batches of similar lengths: shuffle, sort pools of `pool` batches by length, cut them into
    batches of exactly `batch_size` (the remainder is dropped) and shuffle the batches' order."""
    steps = len(lengths) // batch_size
    order = torch.randperm(len(lengths), generator=generator)[: steps * batch_size]
    batches = []
    for chunk in order.split(pool * batch_size):
        chunk = chunk[lengths[chunk].argsort(stable=True)]
        batches += list(chunk.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]
