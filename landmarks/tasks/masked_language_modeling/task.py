"""Masked language modelling, BERT's pre-training (Devlin et al. 2018, Sec. 3.1, Task #1): predict the chosen
tokens of a sequence from both sides of it.

A training batch is B packed windows in a seeded order per epoch, masked anew at every step from (seed, step)
(data.py). Validation and test mask the fixed windows of two held-out parts of the text (neither trained on, nor
in the vocabulary's training) with one fixed draw each, so that their numbers compare across runs. Metrics: the
loss over the masked tokens (nats), its perplexity and the masked-token accuracy, beside the accuracy of the
baseline that guesses the training text's commonest piece at every mask (a model on the first plateau of
masked-LM training is no better). TensorBoard gets fill-in-the-blank
samples as text: a validation sentence with its [MASK]s, and the model's three guesses at each beside the truth.
"""

import math

import torch
import torch.nn.functional as F

from landmarks.tasks.base import EpochOrder, Task, epoch_generator, evaluating, fit_batch_size, unwrap
from landmarks.tasks.masked_language_modeling.data import IGNORE, PackedText, load_packed_text, mask_tokens
from landmarks.tasks.masked_language_modeling.datasets import DATASETS, MaskedTextConfig
from landmarks.tasks.masked_language_modeling.predict import MaskPredictor

SPLIT_SEEDS = {"val": 0, "test": 1}  # the fixed masking draws of the evaluation splits


class MaskedLanguageModeling(Task):
    """The task of packed text windows. Models get `vocab_size` and `max_position` (the window) from the data."""

    eval_metrics = {"loss": "min", "ppl": "min", "acc": "max"}
    data_config, datasets, model_sizes = MaskedTextConfig, DATASETS, ("vocab_size", "max_position")
    predictor = MaskPredictor  # what load_run's run offers: fill_mask

    def __init__(self, data: PackedText, cfg: MaskedTextConfig, *, batch_size: int, seed: int, eval_batch_size=64):
        batch_size = fit_batch_size(batch_size, len(data.train), f"windows of {cfg.block_size} tokens")
        self.data, self.cfg, self.batch_size, self.seed = data, cfg, batch_size, seed
        self.eval_batch_size = eval_batch_size
        self.steps_per_epoch = len(data.train) // batch_size
        self.batch_index = EpochOrder(self._draw_epoch, self.steps_per_epoch)
        self.generator = torch.Generator(data.train.device)
        counts = torch.bincount(data.train.flatten().cpu(), minlength=len(data.pieces))
        counts[: data.pieces.first_normal] = 0  # [CLS], [SEP] and the other specials are never chosen
        self.most_frequent = int(counts.argmax())  # the training text's commonest piece: the baseline's one guess

    @classmethod
    def from_config(cls, data: MaskedTextConfig, *, trainer, seed: int, device: torch.device):
        return cls(load_packed_text(data, device), data, batch_size=trainer.batch_size, seed=seed)

    def model_kwargs(self) -> dict:
        return {"vocab_size": len(self.data.pieces), "max_position": self.cfg.block_size}

    def _draw_epoch(self, epoch: int) -> torch.Tensor:
        order = torch.randperm(len(self.data.train), generator=epoch_generator(self.seed, epoch))
        batches = order[: self.steps_per_epoch * self.batch_size].view(self.steps_per_epoch, self.batch_size)
        return batches.to(self.data.train.device)  # once an epoch, not once a step

    def masked(self, windows: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.generator.manual_seed(seed)
        return mask_tokens(windows, self.data.pieces, self.cfg, self.generator)

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs (B, T) with BERT's masking, labels (B, T): the original ids where masked, IGNORE elsewhere)."""
        windows = self.data.train[self.batch_index(step)]  # each epoch's order moved to the device once
        return self.masked(windows, self.seed * 1_000_003 + step)

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The mean over the chosen tokens, by sums over every position (no boolean indexing: no host sync); a
        micro-batch in which no token was chosen (small batches) gives 0 and weighs nothing (`loss_weight`)."""
        inputs, labels = batch
        logits = model(inputs).float()
        count = (labels != IGNORE).sum().clamp(min=1)
        total = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="sum")
        return total / count, {"acc": (logits.argmax(-1) == labels).sum() / count}

    def loss_weight(self, batch) -> torch.Tensor:
        """The masked tokens the loss averages, on the device: micro-batches weigh by them."""
        return (batch[1] != IGNORE).sum()

    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        inputs, labels = self.masked(getattr(self.data, split), SPLIT_SEEDS[split])
        total, correct = torch.zeros((), device=labels.device), torch.zeros((), device=labels.device)
        frequent = (labels == self.most_frequent).sum().item()
        with evaluating(model):
            for begin in range(0, len(inputs), self.eval_batch_size):
                chunk = slice(begin, begin + self.eval_batch_size)
                chosen = labels[chunk] != IGNORE
                logits = model(inputs[chunk]).float()[chosen]
                total += F.cross_entropy(logits, labels[chunk][chosen], reduction="sum")
                correct += (logits.argmax(-1) == labels[chunk][chosen]).sum()
        count = (labels != IGNORE).sum().item()
        loss = total.item() / count
        return {
            "loss": loss,
            "ppl": math.exp(min(loss, 50.0)),
            "acc": correct.item() / count,
            "most_frequent_acc": frequent / count,  # the baseline: the commonest training piece at every mask
        }

    def fill_in(self, model, samples: int = 4, tokens: int = 40) -> str:
        """Validation sentences with their [MASK]s (BERT's masking, [MASK] alone shown), and at each mask the
        model's three guesses and the truth, as Markdown."""
        windows = torch.stack([self.from_a_word(window, tokens) for window in self.data.val[:samples]])
        inputs, labels = self.masked(windows, SPLIT_SEEDS["val"])
        inputs = torch.where(labels != IGNORE, self.data.pieces.mask, inputs)
        with evaluating(unwrap(model)) as plain:
            guesses = self.data.pieces.top_guesses(plain(inputs), 3)
        pieces, lines = self.data.pieces, []
        for row in range(len(inputs)):
            lines.append("    " + pieces.decode(inputs[row, 1:].tolist()))
            for position in (labels[row] != IGNORE).nonzero().flatten().tolist():
                top = " / ".join(pieces.piece(i) for i in guesses[row, position].tolist())
                lines.append(f"    [MASK] {top}  (truth: {pieces.piece(labels[row, position].item())})")
        return "\n".join(lines)

    def from_a_word(self, window: torch.Tensor, tokens: int) -> torch.Tensor:
        """[CLS] and `tokens` pieces of a packed window from its first word's start (windows are cut from one
        stream, so most begin mid-word), or from its start if a word start comes too late."""
        body = window[1:-1]
        length = min(tokens, len(body))
        starts = self.data.pieces.word_starts(body.device)[body[: len(body) - length + 1]].nonzero()
        first = int(starts[0]) if len(starts) else 0
        return torch.cat([window[:1], body[first : first + length]])

    def log_samples(self, writer, model, step: int) -> None:
        writer.add_text("samples/fill_in_the_blank", self.fill_in(model), step)

    def report(self, model) -> str:
        return "  fill in the blank (three guesses, the truth):\n" + self.fill_in(model, samples=1)

    def export(self) -> dict:
        return {"pieces": self.data.pieces.model}
