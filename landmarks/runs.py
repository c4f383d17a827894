"""A finished run back in one call, for use in other code:

    from landmarks import load_run
    run = load_run("outputs/resnet20-cifar10/2026-11-23_18-00-00")
    run.model                      # the trained nn.Module, in eval mode
    run.config, run.metrics        # the composed config and metrics.json
    run.classify(images)           # image runs: class names of (B, C, H, W) images in [0, 1]
    run.translate(["Hello."])      # translation runs: the decoded sentences (beam search as at test time)
    run.generate("ROMEO:", 200)    # language-model runs: the prompt and what follows
    run.fill_mask("To be or [MASK] to be")  # masked-LM runs (BERT): the top guesses at each [MASK]
    run.classify_text(["O Romeo, Romeo!"])  # text classification runs: the class of each text (or pair)
    run.evaluate("test")           # the metrics of a split again (the data must be where the run found it)

A finished run dir holds model.safetensors and model.json (landmarks/export.py: weights and description, no
pickle), which load_run reads: the weights the final report evaluated, the best validation pass's under
trainer.early_stopping. checkpoint.pt and model.pt serve a run stopped before its end, and `weights="last"`.
These methods come from the run's task's predictor (landmarks/tasks/<task>/predict.py). A run whose model is a
class of its own (model._target_) loads only with `trust_code=True`: importing the class runs its module.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from landmarks.build import build_task, laid_out
from landmarks.engine.checkpoint import CheckpointError
from landmarks.export import read_run
from landmarks.tasks import task_class


@dataclass
class TrainedRun:
    model: torch.nn.Module
    config: DictConfig
    metrics: dict  # metrics.json; empty for a run that has not finished
    predictor: object  # the task's: classify, translate or generate
    device: torch.device
    trust_code: bool = False  # load_run's: evaluate() reads model.init_from's run under the same trust

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "predictor":
            raise AttributeError(name)
        if hasattr(self.predictor, name):
            return getattr(self.predictor, name)
        raise AttributeError(
            f"this is a {self.config.data.task} run: it offers {', '.join(self.predictor.methods)} and evaluate, "
            f"not {name}"
        )

    def task(self):
        """The run's task, its data loaded again as the run's config says (for its own evaluations)."""
        return build_task(self.config, self.device, self.trust_code)

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """The task's metrics on a split."""
        return self.task().evaluate(self.model, split)


def load_run(
    run_dir: str | Path, device: str | torch.device = "cpu", weights: str = "final", trust_code: bool = False
) -> TrainedRun:
    """The trained model of a train.py run dir, or of a folder that `python -m landmarks.export` wrote, in eval
    mode on `device`: `weights="final"`, those the final report evaluated (the best validation pass's under early
    stopping), or "last", the last step's (checkpoint.pt). Nothing read can run code, unless `trust_code` lets a
    run's own model class (model._target_) be imported."""
    run_dir, device = Path(run_dir), torch.device(device)
    if weights not in ("final", "last"):
        raise ValueError(f"weights={weights!r}; use 'final' (the report's, best under early stopping) or 'last'")
    model, config, exported, _ = read_run(run_dir, last=weights == "last", trust_code=trust_code)
    config = OmegaConf.create(config)
    model = laid_out(model.to(device), bool(config.data.get("channels_last"))).eval()
    metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
    try:
        predictor = task_class(config.data.task).predictor(model, exported, device)
    except Exception as error:  # a tokenizer that is not one, say: nothing half-loaded
        raise CheckpointError(f"{run_dir}: what its task exported cannot be read back: {error!r}") from None
    return TrainedRun(model, config, metrics, predictor, device, trust_code)
