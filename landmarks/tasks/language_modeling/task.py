"""Language modelling: next-token cross-entropy on random windows of a token stream (data.py), as nanoGPT
trains.

A training batch is B windows of block_size + 1 tokens at offsets drawn from a generator seeded by (seed,
step): deterministic, and a resumed run draws the same. Validation ("val") averages over a fixed set of
windows of the held-out text, as many as nanoGPT's CPU example estimates with (20 x 12); "test" evaluates
every non-overlapping window of it. Metrics: loss (nats per token), perplexity, and bits per character
(or per byte, at byte level). Generated samples from a fixed prompt go to TensorBoard at each validation.
"""

import math

import torch
import torch.nn.functional as F

from landmarks.hooks import hook
from landmarks.tasks.base import Task, evaluating, fit_batch_size, unwrap
from landmarks.tasks.language_modeling.data import TokenStream, load_token_stream
from landmarks.tasks.language_modeling.datasets import DATASETS, TextDataConfig
from landmarks.tasks.language_modeling.predict import TextPredictor


class LanguageModeling(Task):
    """The task of a token stream. Models get `vocab_size` and `block_size` (the context) from the data."""

    eval_metrics = {"loss": "min", "ppl": "min", "bpc": "min"}
    data_config, datasets, model_sizes = TextDataConfig, DATASETS, ("vocab_size", "block_size")
    predictor = TextPredictor  # what load_run's run offers: classify, translate or generate

    def __init__(
        self,
        data: TokenStream,
        *,
        batch_size: int,
        block_size: int,
        seed: int,
        val_windows: int = 240,
        sample_prompt: str | None = None,
        sample_length: int = 200,
        eval_batch_size: int = 64,
    ):
        windows = len(data.train) - block_size
        batch_size = fit_batch_size(batch_size, windows, f"windows of {block_size + 1} tokens")
        self.data, self.batch_size, self.block_size, self.seed = data, batch_size, block_size, seed
        self.steps_per_epoch = max(1, len(data.train) // (batch_size * block_size))  # an epoch: as many tokens
        self.eval_batch_size, self.sample_length = eval_batch_size, sample_length
        self.final_ids = None  # the final sample's tokens (log_pictures), whose beginning the report shows
        starts = torch.randint(len(data.val) - block_size, (val_windows,), generator=torch.Generator().manual_seed(0))
        self.val_starts = starts.sort().values  # fixed for every run and seed: val losses compare across runs
        self.test_starts = torch.arange(0, len(data.val) - block_size, block_size)
        self.generator = torch.Generator(data.train.device)
        prompt = sample_prompt or data.codec.decode(data.val[:16].tolist())
        self.prompt = torch.tensor([data.codec.encode(prompt)], device=data.val.device)

    @classmethod
    def from_config(cls, data: TextDataConfig, *, trainer, seed: int, device: torch.device) -> "LanguageModeling":
        return cls(
            load_token_stream(data, device),
            batch_size=trainer.batch_size,
            block_size=data.block_size,
            seed=seed,
            val_windows=data.val_windows,
            sample_prompt=data.sample_prompt,
            sample_length=data.sample_length,
        )

    def model_kwargs(self) -> dict:
        """The vocabulary's size and the context length of the windows."""
        return {"vocab_size": len(self.data.codec), "block_size": self.block_size}

    def windows(self, stream: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (B, block_size): the windows at `starts`, and the same shifted by one."""
        offsets = starts.to(stream.device)[:, None] + torch.arange(self.block_size + 1, device=stream.device)
        window = stream[offsets]
        return window[:, :-1], window[:, 1:]

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.generator.manual_seed(self.seed * 1_000_003 + step)  # on the device: the offsets need no copy there
        windows = len(self.data.train) - self.block_size
        starts = torch.randint(windows, (self.batch_size,), generator=self.generator, device=self.data.train.device)
        return self.windows(self.data.train, starts)

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Next-token cross-entropy, plus the model's auxiliary loss if its forward made one (a mixture of
        experts' load balancing, logged as train/aux_loss)."""
        inputs, targets = batch
        logits = model(inputs).float()
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        aux = aux_loss() if (aux_loss := hook(unwrap(model), "aux_loss")) else None
        return (loss, {}) if aux is None else (loss + aux, {"aux_loss": aux.detach()})

    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        starts = self.val_starts if split == "val" else self.test_starts
        total = torch.zeros((), device=self.data.val.device)
        with evaluating(model):
            for begin in range(0, len(starts), self.eval_batch_size):
                inputs, targets = self.windows(self.data.val, starts[begin : begin + self.eval_batch_size])
                logits = model(inputs).float()
                total += F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum")
        loss = total.item() / (len(starts) * self.block_size)
        return {"loss": loss, "ppl": math.exp(min(loss, 50.0)), "bpc": loss / math.log(2)}

    def sample(self, model, length: int, seed: int = 0) -> str:
        """Text generated after the prompt (temperature 1, top-k 40), reproducible for a seed."""
        return self.data.codec.decode(self.sample_ids(model, length, seed))

    def sample_ids(self, model, length: int, seed: int = 0) -> list[int]:
        generator = torch.Generator(self.prompt.device).manual_seed(seed)
        with evaluating(unwrap(model)) as plain:
            return plain.generate(self.prompt, length, top_k=40, generator=generator)[0].tolist()

    def report(self, model) -> str:
        """The first sample_length tokens of the final sample (log_pictures': the same draws), or a new one."""
        ids = self.final_ids or self.sample_ids(model, self.sample_length)
        return "  sample:\n" + indented(self.data.codec.decode(ids[: self.prompt.shape[1] + self.sample_length]))

    def log_samples(self, writer, model, step: int) -> None:
        writer.add_text("samples/generated", indented(self.sample(model, self.sample_length)), step)

    def export(self) -> dict:
        return {"alphabet": self.data.codec.alphabet}

    def log_pictures(self, writer, model, step: int) -> None:
        """A longer sample at the end of the run, kept for the report."""
        self.final_ids = self.sample_ids(model, 4 * self.sample_length)
        writer.add_text("test/generated", indented(self.data.codec.decode(self.final_ids)), step)


def indented(text: str) -> str:
    """Text indented by four spaces: verbatim in the console and in TensorBoard's Markdown."""
    return "\n".join(f"    {line}" for line in text.split("\n"))
