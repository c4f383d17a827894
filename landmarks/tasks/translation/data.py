"""Sentence pairs as resident token-id tensors, and batches of similar lengths.

The pairs come from the dataset that `data.source` names (datasets/: synthetic, tsv, multi30k). One tokenizer
(tokenizers.py) trained on both sides of the training split serves both languages.
"""

from dataclasses import dataclass

import torch

from landmarks.tasks.translation.datasets import DATASETS, TranslationDataConfig
from landmarks.tasks.translation.tokenizers import BOS, PAD, normalize, train_tokenizer


@dataclass
class SentenceSplit:
    src: torch.Tensor  # (N, S) ids ending in <eos>, padded with <pad>, on the device
    tgt: torch.Tensor  # (N, 1 + T) ids: <bos>, the sentence, <eos>, padding
    src_lengths: torch.Tensor  # (N,) on the CPU, so that batches are cut without a device sync
    tgt_lengths: torch.Tensor
    pairs: list[tuple[str, str]]  # the text as read (stripped), the references of BLEU and samples

    def __len__(self) -> int:
        return len(self.pairs)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pairs at `index` (a CPU tensor), cut to their longest source and target."""
        return self.cut(index.to(self.src.device), *self.longest(index))

    def longest(self, index: torch.Tensor) -> tuple[int, int]:
        """The longest source and target among the pairs at `index` (a CPU tensor: no device sync)."""
        return int(self.src_lengths[index].max()), int(self.tgt_lengths[index].max())

    def cut(self, device_index: torch.Tensor, src_len: int, tgt_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.src[device_index, :src_len], self.tgt[device_index, :tgt_len]

    def epoch_batches(self, batches: list[torch.Tensor], pad_to: int = 1) -> list[tuple[torch.Tensor, int, int]]:
        """An epoch's batches (CPU index tensors) as (index on the device, longest source, longest target), the
        lengths rounded up to a multiple of `pad_to` (fewer shapes for torch.compile): the indices cross to the
        device in one copy an epoch, not one a step."""
        on_device = torch.cat(batches).to(self.src.device).split([len(index) for index in batches])
        return [
            (index, *(-(-n // pad_to) * pad_to for n in self.longest(cpu))) for index, cpu in zip(on_device, batches)
        ]


@dataclass
class TranslationData:
    train: SentenceSplit
    val: SentenceSplit
    test: SentenceSplit
    tokenizer: object  # landmarks.tasks.translation.tokenizers: encode(text), decode(ids), piece(id), len()


def to_split(pairs: list[tuple[str, str]], ids: list[tuple[list[int], list[int]]], device) -> SentenceSplit:
    """`pairs` as text and as ids -> a resident split of padded ids."""
    src = [torch.tensor(s) for s, _ in ids]
    tgt = [torch.tensor([BOS] + t) for _, t in ids]
    pad = torch.nn.utils.rnn.pad_sequence
    return SentenceSplit(
        src=pad(src, batch_first=True, padding_value=PAD).to(device),
        tgt=pad(tgt, batch_first=True, padding_value=PAD).to(device),
        src_lengths=torch.tensor([len(s) for s in src]),
        tgt_lengths=torch.tensor([len(t) for t in tgt]),
        pairs=pairs,
    )


def load_translation_data(cfg: TranslationDataConfig, device) -> TranslationData:
    """Train the tokenizer on both sides of the training split, encode every split (normalised: NFKC, single
    spaces), drop training pairs longer than `cfg.max_len` tokens on either side (the evaluation splits stay
    whole), and move the splits to `device`."""
    splits = DATASETS[cfg.source](cfg)
    tokenizer = train_tokenizer(
        [normalize(side) for pair in splits["train"] for side in pair],
        cfg.level,
        min_freq=cfg.min_freq,
        vocab_size=cfg.vocab_size,
    )
    ids = {
        name: [(tokenizer.encode(normalize(s)), tokenizer.encode(normalize(t))) for s, t in pairs]
        for name, pairs in splits.items()
    }
    kept = [i for i, (s, t) in enumerate(ids["train"]) if max(len(s), len(t)) <= cfg.max_len + 1]  # + <eos>
    if not kept:
        raise ValueError(f"no training pair is at most data.max_len={cfg.max_len} tokens long; raise data.max_len")
    splits["train"], ids["train"] = [splits["train"][i] for i in kept], [ids["train"][i] for i in kept]
    return TranslationData(
        **{name: to_split(pairs, ids[name], device) for name, pairs in splits.items()}, tokenizer=tokenizer
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
