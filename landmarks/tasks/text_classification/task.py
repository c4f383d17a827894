"""Text classification, BERT's fine-tuning (Devlin et al. 2018, Sec. 4.1, Fig. 4b): [CLS] text [SEP] (text_b
[SEP]) in, the class out of the pooled [CLS] vector. With model.init_from=<a masked-LM run dir> the encoder and
its vocabulary come from that pretraining run and the head starts fresh; without it, the same model trains from
scratch on a vocabulary of the training texts.

Batches are B examples in a seeded order per epoch, cut to their longest sequence. Metrics: loss, accuracy and
macro-F1 (each class's F1 weighs the same, whatever its size). TensorBoard gets the test confusion matrix with the
class names, and validation examples with the model's guess.
"""

import torch
import torch.nn.functional as F

from landmarks.datasets import TextError
from landmarks.tasks.base import EpochOrder, Task, epoch_generator, evaluating, fit_batch_size, unwrap
from landmarks.tasks.confusion import confusion_counts, confusion_matrix_figure, macro_f1
from landmarks.tasks.pieces import PAD, Pieces
from landmarks.tasks.text_classification.data import Encoded, LabelledIds, encode_splits, few
from landmarks.tasks.text_classification.datasets import DATASETS, TextClassificationConfig
from landmarks.tasks.text_classification.predict import TextClassifier


def classify(model, ids: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """The model's logits (B, classes): it reads ids, segment ids and the attention mask (True at real tokens)."""
    return model(ids, segments, ids != PAD)


class TextClassification(Task):
    """The task of labelled texts. Models get `vocab_size`, `max_position` and `num_labels` from the data (and the
    pretrained run)."""

    eval_metrics = {"loss": "min", "acc": "max", "f1": "max"}
    data_config, datasets = TextClassificationConfig, DATASETS
    model_sizes = ("vocab_size", "max_position", "num_labels")
    predictor = TextClassifier  # what load_run's run offers: classify_text
    fine_tunes_from = ("masked_language_modeling",)

    def __init__(
        self,
        data: LabelledIds,
        cfg: TextClassificationConfig,
        *,
        batch_size: int,
        seed: int,
        pretrained=None,
        eval_batch_size: int = 256,
    ):
        train = data.splits["train"]
        batch_size = fit_batch_size(batch_size, len(train.labels), "training examples")
        self.data, self.cfg, self.batch_size, self.seed = data, cfg, batch_size, seed
        self.pretrained, self.eval_batch_size = pretrained, eval_batch_size
        self.steps_per_epoch = len(train.labels) // batch_size
        self.batch_index = EpochOrder(self._draw_epoch, self.steps_per_epoch)

    @classmethod
    def from_config(cls, data: TextClassificationConfig, *, trainer, seed: int, device, pretrained=None):
        pieces = pretrained_pieces(pretrained, data.block_size) if pretrained is not None else None
        labelled = DATASETS[data.source](data)
        labelled.train = few(labelled.train, data.train_size, seed)
        ids = encode_splits(labelled, pieces, data.vocab_size, data.block_size, device)
        return cls(ids, data, batch_size=trainer.batch_size, seed=seed, pretrained=pretrained)

    def model_kwargs(self) -> dict:
        positions = self.pretrained.model_kwargs["max_position"] if self.pretrained else self.cfg.block_size
        return {"vocab_size": len(self.data.pieces), "max_position": positions, "num_labels": len(self.data.classes)}

    def _draw_epoch(self, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each step's indices on the CPU (its longest sequence is read there) and on the device (copied once an
        epoch: a copy a step would wait for the GPU)."""
        train = self.data.splits["train"]
        order = torch.randperm(len(train.labels), generator=epoch_generator(self.seed, epoch))
        batches = order[: self.steps_per_epoch * self.batch_size].view(self.steps_per_epoch, self.batch_size)
        return list(zip(batches, batches.to(train.labels.device)))

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ids (B, T), segment ids (B, T), labels (B,)), T the batch's longest sequence."""
        return rows(self.data.splits["train"], *self.batch_index(step))

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        ids, segments, labels = batch
        logits = classify(model, ids, segments).float()
        return F.cross_entropy(logits, labels), {"acc": (logits.argmax(-1) == labels).float().mean()}

    def predictions(self, model, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(the summed loss, the predicted classes) over a split, in eval mode."""
        encoded = self.data.splits[split]
        total, guesses = torch.zeros((), device=encoded.labels.device), []
        with evaluating(model):
            for chunk in torch.arange(len(encoded.labels)).split(self.eval_batch_size):
                ids, segments, labels = rows(encoded, chunk)
                logits = classify(model, ids, segments).float()
                total += F.cross_entropy(logits, labels, reduction="sum")
                guesses.append(logits.argmax(-1))
        return total, torch.cat(guesses)

    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        total, guesses = self.predictions(model, split)
        labels = self.data.splits[split].labels
        counts = confusion_counts(labels, guesses, len(self.data.classes))
        return {"loss": total.item() / len(labels), "acc": counts.trace().item() / len(labels), "f1": macro_f1(counts)}

    def examples(self, model, split: str = "val", count: int = 6) -> str:
        """The first `count` examples of a split with the model's guess and the truth, as Markdown."""
        encoded, classes = self.data.splits[split], self.data.classes
        with evaluating(unwrap(model)) as plain:
            ids, segments, labels = rows(encoded, torch.arange(min(count, len(encoded.labels))))
            guesses = classify(plain, ids, segments).argmax(-1).tolist()
        lines = []
        for row, (guess, truth) in enumerate(zip(guesses, labels.tolist())):
            mark = "right" if guess == truth else f"truth: {classes[truth]}"
            text = self.data.pieces.decode([i for i in ids[row].tolist() if i != PAD])
            lines.append(f"    {text}  ->  {classes[guess]} ({mark})")
        return "\n".join(lines)

    def log_samples(self, writer, model, step: int) -> None:
        writer.add_text("samples/classified", self.examples(model), step)

    def log_pictures(self, writer, model, step: int) -> None:
        _, guesses = self.predictions(model, "test")
        figure = confusion_matrix_figure(self.data.splits["test"].labels, guesses, self.data.classes)
        writer.add_figure("test/confusion_matrix", figure, step)

    def report(self, model) -> str:
        return "  validation examples (guess, then the truth where it differs):\n" + self.examples(model, count=3)

    def export(self) -> dict:
        return {"pieces": self.data.pieces.model, "classes": self.data.classes, "block_size": self.cfg.block_size}


def rows(encoded: Encoded, index: torch.Tensor, device_index: torch.Tensor | None = None):
    """(ids, segments, labels) of the examples at `index` (CPU; `device_index`, the same on the data's device),
    cut to their longest sequence (known on the CPU: no device sync)."""
    width = int(encoded.lengths[index].max())
    device_index = index.to(encoded.labels.device) if device_index is None else device_index
    return encoded.ids[device_index, :width], encoded.segments[device_index, :width], encoded.labels[device_index]


def pretrained_pieces(pretrained, block_size: int) -> Pieces:
    """The vocabulary of the masked-LM run model.init_from names; one line naming the fix for a run of another
    task or with fewer positions than data.block_size."""
    if pretrained.task not in TextClassification.fine_tunes_from or "pieces" not in pretrained.exported:
        raise TextError(
            f"model.init_from={pretrained.run_dir} is a {pretrained.task} run; fine-tuning starts from a "
            "masked_language_modeling run (python train.py model=bert)"
        )
    positions = pretrained.model_kwargs.get("max_position")
    if positions is not None and block_size > positions:
        raise TextError(
            f"data.block_size={block_size} exceeds the {positions} positions model.init_from={pretrained.run_dir} "
            f"was pretrained with; set data.block_size={positions} or lower"
        )
    return Pieces(pretrained.exported["pieces"])
