"""A finished run back in one call, for use in other code:

    from landmarks import load_run
    run = load_run("outputs/resnet20/2026-11-23_18-00-00")
    run.model                      # the trained nn.Module, in eval mode
    run.config, run.metrics        # the composed config and metrics.json
    run.classify(images)           # image runs: class names of (B, C, H, W) images in [0, 1]
    run.translate(["Hello."])      # translation runs: the decoded sentences (beam search as at test time)
    run.generate("ROMEO:", 200)    # language-model runs: the prompt and what follows
    run.evaluate("test")           # the metrics of a split again (the data must be where the run found it)

A run dir holds checkpoint.pt (weights, config) and model.pt (the model's constructor arguments and what its task
exported: normalisation and class names, tokenizer, or alphabet), both written by train.py.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from landmarks.engine.checkpoint import CheckpointError, load_checkpoint
from landmarks.models import create_model

MODEL_FILE = "model.pt"


@dataclass
class TrainedRun:
    model: torch.nn.Module
    config: DictConfig
    metrics: dict  # metrics.json; empty for a run that has not finished
    exported: dict  # the task's export (landmarks.tasks.base.Task.export)
    device: torch.device

    def classify(self, images: torch.Tensor) -> list[str]:
        """The class names of images (B, C, H, W) with values in [0, 1], at the size the model trained on."""
        from landmarks.tasks.image_classification.data import multi_view_logits

        exported = self.exported
        mean, std = exported["mean"].to(self.device), exported["std"].to(self.device)
        images = images.to(self.device, torch.float32)
        with torch.no_grad():
            logits = multi_view_logits(
                self.model, images, lambda x: (x - mean) / std, exported["tta_flip"], exported.get("tta_translate", 0)
            )
        return [exported["classes"][i] for i in logits.argmax(dim=1).tolist()]

    def translate(self, sentences: list[str], beam_size: int | None = None) -> list[str]:
        """Translations of `sentences`, by beam search of the run's test-time width (greedy with width 1)."""
        from landmarks.tasks.translation.decoding import translate_ids
        from landmarks.tasks.translation.tokenizers import BOS, EOS, PAD, tokenizer_from_state
        from landmarks.text import normalize

        tokenizer = tokenizer_from_state(self.exported["tokenizer"])
        rows = [torch.tensor(tokenizer.encode(normalize(sentence))) for sentence in sentences]
        src = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=PAD).to(self.device)
        ids = translate_ids(self.model, src, bos=BOS, eos=EOS, beam_size=beam_size or self.exported["beam_size"])
        return [tokenizer.decode(row) for row in ids.tolist()]

    def generate(self, prompt: str, length: int, top_k: int | None = 40, seed: int = 0) -> str:
        """The prompt and `length` generated characters (or bytes), sampled with top-k, reproducible for a seed."""
        from landmarks.tasks.language_modeling.data import Codec

        codec = Codec(self.exported["alphabet"])
        idx = torch.tensor([codec.encode(prompt)], device=self.device)
        generator = torch.Generator(self.device).manual_seed(seed)
        with torch.no_grad():
            ids = self.model.generate(idx, length, top_k=top_k, generator=generator)
        return codec.decode(ids[0].tolist())

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """The task's metrics on a split, the data loaded again as the run's config says."""
        from landmarks.build import build_task

        return build_task(self.config, self.device).evaluate(self.model, split)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> TrainedRun:
    """The trained model of a train.py run dir (its last checkpoint), in eval mode on `device`."""
    run_dir, device = Path(run_dir), torch.device(device)
    if not (run_dir / MODEL_FILE).exists():
        raise CheckpointError(f"{run_dir / MODEL_FILE} not found; pass the run dir that train.py printed")
    described = torch.load(run_dir / MODEL_FILE, map_location="cpu", weights_only=False)
    state = load_checkpoint(run_dir)
    kwargs = dict(described["model_kwargs"])
    model = create_model(kwargs.pop("name"), **kwargs)
    model.load_state_dict(state["model"])
    metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
    return TrainedRun(model.to(device).eval(), OmegaConf.create(state["config"]), metrics, described["task"], device)
