"""A finished run back in one call, for use in other code:

    from landmarks import load_run
    run = load_run("outputs/resnet20/2026-11-23_18-00-00")
    run.model                      # the trained nn.Module, in eval mode
    run.config, run.metrics        # the composed config and metrics.json
    run.classify(images)           # image runs: class names of (B, C, H, W) images in [0, 1]
    run.translate(["Hello."])      # translation runs: the decoded sentences (beam search as at test time)
    run.generate("ROMEO:", 200)    # language-model runs: the prompt and what follows
    run.evaluate("test")           # the metrics of a split again (the data must be where the run found it)

A run dir holds checkpoint.pt (weights, config) and model.pt (the model's constructor arguments, with the import
path of a user's own class, and what its task exported), both written by train.py. classify, translate and
generate come from the run's task's predictor (landmarks/tasks/<task>/predict.py).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from landmarks.engine.checkpoint import CheckpointError, load_checkpoint, load_safely

MODEL_FILE = "model.pt"


@dataclass
class TrainedRun:
    model: torch.nn.Module
    config: DictConfig
    metrics: dict  # metrics.json; empty for a run that has not finished
    predictor: object  # the task's: classify, translate or generate
    device: torch.device

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "predictor":
            raise AttributeError(name)
        if hasattr(self.predictor, name):
            return getattr(self.predictor, name)
        raise AttributeError(
            f"this is a {self.config.data.task} run: it offers {', '.join(self.predictor.methods)} and evaluate, "
            f"not {name}"
        )

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """The task's metrics on a split, the data loaded again as the run's config says."""
        from landmarks.build import build_task
        from landmarks.config import validate

        return build_task(validate(self.config), self.device).evaluate(self.model, split)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> TrainedRun:
    """The trained model of a train.py run dir (its last checkpoint), in eval mode on `device`."""
    from landmarks.build import instantiate
    from landmarks.tasks import task_class

    run_dir, device = Path(run_dir), torch.device(device)
    if not (run_dir / MODEL_FILE).exists():
        raise CheckpointError(f"{run_dir / MODEL_FILE} not found; pass the run dir that train.py printed")
    described = load_safely(run_dir / MODEL_FILE)
    state = load_checkpoint(run_dir)
    model = instantiate(described["model_kwargs"])
    model.load_state_dict(state["model"])
    model = model.to(device).eval()
    config = OmegaConf.create(state["config"])
    metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
    predictor = task_class(config.data.task).predictor(model, described["task"], device)
    return TrainedRun(model, config, metrics, predictor, device)
