"""The translation task: teacher-forced cross-entropy on the target tokens (padding ignored, optional label
smoothing), and evaluation by decoding: token accuracy, perplexity, exact match and standard corpus BLEU
(sacreBLEU: cased, on the decoded text against the references as read, its signature in metrics.json), beside
the BLEU of copying the source, the baseline any model must beat. Implements landmarks.tasks.base.Task."""

import math

import torch
import torch.nn.functional as F

from landmarks.hooks import hook
from landmarks.tasks.base import EpochOrder, Task, epoch_generator, evaluating, fit_batch_size, unwrap
from landmarks.tasks.translation.data import TranslationData, length_grouped_batches, load_translation_data
from landmarks.tasks.translation.datasets import DATASETS, TranslationDataConfig
from landmarks.tasks.translation.decoding import translate_ids
from landmarks.tasks.translation.predict import TranslationPredictor
from landmarks.tasks.translation.tokenizers import BOS, EOS, PAD, normalize


class Translation(Task):
    """The task of sentence pairs. Models get `src_vocab_size`, `tgt_vocab_size` (one joint vocabulary) and
    `pad_id` from the data."""

    eval_metrics = {"loss": "min", "ppl": "min", "acc": "max", "exact_match": "max", "bleu": "max", "copy_bleu": None}
    data_config, datasets = TranslationDataConfig, DATASETS
    predictor = TranslationPredictor  # what load_run's run offers: classify, translate or generate
    model_sizes = ("src_vocab_size", "tgt_vocab_size", "pad_id")

    def __init__(
        self,
        data: TranslationData,
        *,
        batch_size: int,
        seed: int,
        label_smoothing: float = 0.0,
        beam_size: int = 1,
        eval_batch_size: int = 500,
        pad_to: int = 1,
    ):
        batch_size = fit_batch_size(batch_size, len(data.train), "training pairs")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.label_smoothing, self.beam_size, self.eval_batch_size = label_smoothing, beam_size, eval_batch_size
        self.steps_per_epoch = len(data.train) // batch_size
        self.bleu_signature = None  # sacreBLEU's, once a split is evaluated
        self.pad_to = pad_to  # under torch.compile: lengths a multiple of 8, marked dynamic, so that it compiles once
        self.batch_index = EpochOrder(
            lambda epoch: data.train.epoch_batches(
                length_grouped_batches(data.train.src_lengths, batch_size, epoch_generator(seed, epoch)), pad_to
            ),
            self.steps_per_epoch,
        )

    @classmethod
    def from_config(cls, data: TranslationDataConfig, *, trainer, seed: int, device: torch.device) -> "Translation":
        return cls(
            load_translation_data(data, device),
            batch_size=trainer.batch_size,
            seed=seed,
            label_smoothing=trainer.label_smoothing,
            beam_size=data.beam_size,
            pad_to=8 if trainer.compile else 1,
        )

    def model_kwargs(self) -> dict:
        """The vocabulary's size for both sides (one joint vocabulary) and the padding id."""
        size = len(self.data.tokenizer)
        return {"src_vocab_size": size, "tgt_vocab_size": size, "pad_id": PAD}

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of global step `step`: (src (B, S), tgt (B, 1 + T)), pairs of similar lengths."""
        src, tgt = self.data.train.cut(*self.batch_index(step))
        if self.pad_to > 1:
            for tensor in (src, tgt):
                torch._dynamo.maybe_mark_dynamic(tensor, 1)
        return src, tgt

    def token_losses(self, model, src: torch.Tensor, tgt: torch.Tensor, label_smoothing: float):
        """Summed cross-entropy, correct tokens and token count over the non-padding targets of a batch."""
        logits = model(src, tgt[:, :-1]).float()  # teacher forcing: <bos> y_1 ... predicts y_1 ... <eos>
        target = tgt[:, 1:]
        real = target != PAD
        loss = F.cross_entropy(
            logits.flatten(0, 1), target.flatten(), ignore_index=PAD, label_smoothing=label_smoothing, reduction="sum"
        )
        correct = ((logits.argmax(-1) == target) & real).sum()
        return loss, correct, real.sum()

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, correct, tokens = self.token_losses(model, *batch, self.label_smoothing)
        return loss / tokens, {"acc": correct / tokens}

    def loss_weight(self, batch) -> torch.Tensor:
        """The target tokens the loss averages (padding excluded), on the device: no host sync."""
        return (batch[1][:, 1:] != PAD).sum()

    def beam(self, split: str) -> int:
        """Validation decodes greedily, the test with the recipe's beam (the Transformer paper's Sec. 6.1: 4)."""
        return self.beam_size if split == "test" else 1

    def translate(self, model, src: torch.Tensor, beam_size: int) -> list[list[int]]:
        """Decoded target ids (without <bos>) of a source batch; beam_size 1 is greedy."""
        return translate_ids(model, src, bos=BOS, eos=EOS, pad=PAD, beam_size=beam_size)[:, 1:].tolist()

    def decode(self, model, split: str) -> list[str]:
        """The split's translations, in its order: greedy on val, the recipe's beam on test, decoded in batches of
        like source length."""
        data, plain = getattr(self.data, split), unwrap(model)
        hypotheses = [""] * len(data)
        with evaluating(model):
            for chunk in data.src_lengths.argsort(stable=True).split(self.eval_batch_size):
                for index, ids in zip(chunk.tolist(), self.translate(plain, data.batch(chunk)[0], self.beam(split))):
                    hypotheses[index] = self.data.tokenizer.decode(ids)
        return hypotheses

    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        """Teacher-forced loss (no smoothing), perplexity and token accuracy; then decoded (greedy on val, beam
        search of `beam_size` on test): exact match (with the reference's spacing normalised, as the
        hypotheses' is) and standard corpus BLEU in 0-100, and copy_bleu, the BLEU of the sources themselves."""
        from sacrebleu.metrics import BLEU  # imported late: only translation runs need it

        data = getattr(self.data, split)
        total_loss, correct, tokens = 0.0, 0, 0
        with evaluating(model):
            for chunk in torch.arange(len(data)).split(self.eval_batch_size):
                batch_loss, batch_correct, batch_tokens = self.token_losses(model, *data.batch(chunk), 0.0)
                total_loss, correct, tokens = (
                    total_loss + batch_loss.item(),
                    correct + batch_correct.item(),
                    tokens + batch_tokens.item(),
                )
        hypotheses = self.decode(model, split)
        sources, references = (list(side) for side in zip(*data.pairs))
        bleu, loss = BLEU(), total_loss / tokens
        score = bleu.corpus_score(hypotheses, [references]).score
        self.bleu_signature = bleu.get_signature().format()
        return {
            "loss": loss,
            "ppl": math.exp(min(loss, 50.0)),
            "acc": correct / tokens,
            "exact_match": sum(h == normalize(r) for h, r in zip(hypotheses, references)) / len(references),
            "bleu": score,
            "copy_bleu": BLEU().corpus_score(sources, [references]).score,
        }

    def notes(self) -> dict[str, str]:
        return {"bleu_signature": self.bleu_signature} if self.bleu_signature else {}

    def log_samples(self, writer, model, step: int, samples: int = 8) -> None:
        """Sample test translations as a text table."""
        test, tokenizer = self.data.test, self.data.tokenizer
        with evaluating(unwrap(model)) as plain:
            hypotheses = self.translate(plain, test.batch(torch.arange(min(samples, len(test))))[0], self.beam_size)
        rows = ["| source | reference | translation |", "|---|---|---|"]
        for (source, reference), ids in zip(test.pairs, hypotheses):
            rows.append(f"| {source} | {reference} | {tokenizer.decode(ids)} |")
        writer.add_text("test/translations", "\n".join(rows), step)

    def export(self) -> dict:
        return {"tokenizer": self.data.tokenizer.state(), "beam_size": self.beam_size}

    def log_pictures(self, writer, model, step: int, samples: int = 8) -> None:
        """The sample translations, and each sample's source-target alignment as a heatmap figure (rows: target
        tokens, columns: source tokens, a colour scale)."""
        self.log_samples(writer, model, step, samples)
        test = self.data.test
        src, tgt = test.batch(torch.arange(min(samples, len(test))))
        with evaluating(unwrap(model)) as plain:
            self._log_alignments(writer, plain, step, src, tgt)

    def _log_alignments(self, writer, plain, step: int, src: torch.Tensor, tgt: torch.Tensor) -> None:
        from landmarks.tasks.translation.pictures import labelled_heatmap

        test, tokenizer = self.data.test, self.data.tokenizer
        if alignments_of := hook(plain, "alignments"):
            alignments = alignments_of(src, tgt[:, :-1]).float().cpu()  # (B, T, S)
            for i in range(len(src)):
                rows, cols = int(test.tgt_lengths[i]) - 1, int(test.src_lengths[i])
                source = [tokenizer.piece(t) for t in test.src[i, :cols].tolist()]
                target = [tokenizer.piece(t) for t in test.tgt[i, 1 : rows + 1].tolist()]
                figure = labelled_heatmap(
                    alignments[i, :rows, :cols], target, source, f"test sentence {i}", "source", "target"
                )
                writer.add_figure(f"alignment/{i}", figure, step)
