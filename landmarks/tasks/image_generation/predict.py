"""A trained generative model in other code (`landmarks.load_run(...).sample`)."""

import torch


class ImageSampler:
    """`exported` is what ImageGeneration.export kept: the class names and how the run sampled."""

    methods = ("sample",)

    def __init__(self, model: torch.nn.Module, exported: dict, device: torch.device):
        self.model, self.exported, self.device = model, exported, device

    def sample(self, n: int, labels=None, steps: int | None = None, guidance: float | None = None, seed: int = 0):
        """n images (n, C, H, W) in [0, 1]; `labels`, a class name or index (or one each) of a class-conditional
        run; `steps` (DDIM's; default the run's data.sample_steps, None there: DDPM's all) and `guidance` (default
        the run's), from noise drawn with `seed`."""
        classes = self.exported["classes"]
        if labels is not None:
            if not self.model.num_classes:
                raise ValueError(f"labels={labels!r} need a class-conditional run (model.conditional=true)")
            labels = [labels] * n if isinstance(labels, (str, int)) else list(labels)
            unknown = [label for label in labels if label not in classes and label not in range(len(classes))]
            if unknown or len(labels) != n:
                raise ValueError(f"labels={labels!r}: give {n} of the classes {classes} (names or indices)")
            labels = torch.tensor([classes.index(label) if isinstance(label, str) else label for label in labels])
        steps = self.exported["sample_steps"] if steps is None else steps
        guidance = self.exported["guidance"] if guidance is None else guidance
        generator = torch.Generator(self.device).manual_seed(seed)
        return self.model.sample(n, labels, steps, guidance, generator).add(1).div(2).clamp(0, 1)
