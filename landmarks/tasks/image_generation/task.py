"""Image generation: a model learns the distribution of a set of images, and its samples are judged by a Fréchet
distance (fid.py) in the features of a classifier of the same data.

- Data: image classification's datasets (their loaders, splits and data.train_size), as images in [-1, 1] with
  their labels, the class a class-conditional model is given; a random horizontal flip where the data asks.
- Loss: the model's own objective, `model(x_0, labels)` (DDPM: Alg. 1's L_simple), one call, so that DDP's hooks
  see the forward.
- Validation: the loss on the validation images at one fixed draw of timesteps and noise, comparable across steps
  and runs, and the Fréchet distance of data.fid_samples generated images (the model's `sample`, data.sample_steps,
  data.guidance) to as many validation images; the test pass measures it against the test images, beside its
  floor (as many training images against them) and, for a class-conditional model, the classifier's accuracy on
  the generated images of each class asked for.
- TensorBoard: a grid of samples from the same noise at each validation, so that grids compare across steps; at
  the end the sampling as a strip from noise to image.
"""

import torch

from landmarks.tasks.base import EpochOrder, Task, evaluating, fit_batch_size, unwrap
from landmarks.tasks.image_classification.data import ImageData, epoch_batches, load_image_data, random_crop_flip
from landmarks.tasks.image_generation.datasets import DATASETS, ImageGenerationConfig
from landmarks.tasks.image_generation.fid import FeatureNet, feature_net, frechet_distance
from landmarks.tasks.image_generation.predict import ImageSampler

VAL_DRAW, GRID = 0, 64  # the seed of the validation loss's draw and of the grids' noise; images in a grid


class ImageGeneration(Task):
    """The task of images and their labels. Models get `in_chans`, `image_size` and `num_classes` from the data."""

    eval_metrics = {"loss": "min", "fd_classifier": "min", "fd_classifier_floor": None, "class_acc": "max"}
    data_config, datasets = ImageGenerationConfig, DATASETS
    model_sizes = ("in_chans", "image_size", "num_classes")
    predictor = ImageSampler  # what load_run's run offers: sample

    def __init__(self, data: ImageData, cfg: ImageGenerationConfig, *, batch_size: int, seed: int, features):
        batch_size = fit_batch_size(batch_size, len(data.train), "training images")
        self.data, self.cfg, self.batch_size, self.seed = data, cfg, batch_size, seed
        self.features: FeatureNet | None = features
        self.steps_per_epoch = len(data.train) // batch_size
        self.batch_index = EpochOrder(self._draw_epoch, self.steps_per_epoch)
        self.generator = torch.Generator(data.train.labels.device)

    @classmethod
    def from_config(cls, data: ImageGenerationConfig, *, trainer, seed: int, device: torch.device):
        features = feature_net(data.source, data.fid_classifier, device)
        images = load_image_data(data, seed=seed, device=device)
        return cls(images, data, batch_size=trainer.batch_size, seed=seed, features=features)

    def model_kwargs(self) -> dict:
        return {"in_chans": self.cfg.in_chans, "image_size": self.cfg.image_size, "num_classes": len(self.data.classes)}

    def init_model(self, model) -> None:
        """Sampling settings the model cannot honour are refused before the first step, not at the first pass."""
        plain, cfg = unwrap(model), self.cfg
        if cfg.guidance and not (plain.num_classes and plain.T):  # T: a diffusion model's steps; a GAN's 0
            needs = "a class-conditional model; set model.conditional=true" if plain.T else "a diffusion model"
            raise ValueError(f"data.guidance={cfg.guidance:g} needs {needs} or data.guidance=null")
        if cfg.sample_steps is None:
            return
        if not plain.T:
            raise ValueError(f"data.sample_steps={cfg.sample_steps}: the model samples in one pass; set it null")
        if not 1 <= cfg.sample_steps <= plain.T:
            raise ValueError(f"data.sample_steps={cfg.sample_steps}: give 1 to the model's T={plain.T}, or null")

    def _draw_epoch(self, epoch: int) -> torch.Tensor:
        return epoch_batches(len(self.data.train), self.batch_size, self.seed, epoch, self.data.train.index_device)

    @staticmethod
    def scaled(images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> [-1, 1], the range DDPM's data is scaled to (Sec. 3.3)."""
        return images.float() / 127.5 - 1

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self.batch_index(step)
        images = self.data.train.read(index)
        if self.cfg.augment.flip:
            self.generator.manual_seed(self.seed * 1_000_003 + step)
            images = random_crop_flip(images, 0, True, self.generator)
        return self.scaled(images), self.data.train.labels[index]

    def loss(self, model, batch, phase: str | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The model's objective; a GAN's for the phase the loop steps (its discriminator's, its generator's)."""
        images, labels = batch
        return (model(images, labels) if phase is None else model(images, labels, phase=phase)), {}

    def samples(self, model, n: int, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
        """n images in [0, 1] from the model's sampler, 250 at a time, from noise drawn with `seed`."""
        plain, device = unwrap(model), self.data.train.labels.device
        generator, chunks = torch.Generator(device).manual_seed(seed), []
        for begin in range(0, n, 250):
            chosen = labels[begin : begin + 250] if labels is not None else None
            chunks.append(
                plain.sample(min(250, n - begin), chosen, self.cfg.sample_steps, self.cfg.guidance, generator)
            )
        return torch.cat(chunks).add(1).div(2).clamp(0, 1)

    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        reference = getattr(self.data, split)
        images = reference.read(slice(None))
        with evaluating(model), torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
            torch.manual_seed(VAL_DRAW)  # the loss's timesteps and noise: one draw for every pass
            total = sum(
                model(self.scaled(chunk), labels).item() * len(chunk)
                for chunk, labels in zip(images.split(250), reference.labels.split(250))
            )
            metrics = {"loss": total / len(images)}
            if self.features is not None:
                metrics |= self.fid(model, reference, split)
        return metrics

    def fid(self, model, reference, split: str) -> dict[str, float]:
        """The Fréchet distance of fid_samples generated images to as many of `reference`'s; at test, its floor
        and the class accuracy of a class-conditional model's samples."""
        n = min(self.cfg.fid_samples, len(reference))
        labels = reference.labels[:n] if unwrap(model).num_classes else None  # the split's own class mix
        real, _ = self.features(reference.read(slice(0, n)).float() / 255)
        fake, guesses = self.features(self.samples(model, n, labels, seed=VAL_DRAW))
        metrics = {"fd_classifier": frechet_distance(fake, real)}
        if split == "test":
            train, _ = self.features(self.data.train.read(slice(0, n)).float() / 255)
            metrics["fd_classifier_floor"] = frechet_distance(train, real)
            if labels is not None:
                metrics["class_acc"] = (guesses == labels.cpu()).float().mean().item()
        return metrics

    def notes(self) -> dict[str, str]:
        name = self.features.name if self.features else "none"
        return {
            "fid_features": f"Fréchet distance in the features of {name} (not Inception FID), "
            f"{self.cfg.fid_samples} samples"
        }

    def grid_labels(self, model, per_class: int) -> torch.Tensor | None:
        """A row of `per_class` for each class of a conditional model; None for an unconditional one."""
        if not unwrap(model).num_classes:
            return None
        return torch.arange(per_class * len(self.data.classes), device=self.data.train.labels.device) // per_class

    def log_samples(self, writer, model, step: int) -> None:
        """A grid from the same noise at every validation: a row a class (8 rows of 8 if unconditional)."""
        from torchvision.utils import make_grid

        labels = self.grid_labels(model, 8)
        with evaluating(model):
            images = self.samples(model, GRID if labels is None else len(labels), labels, seed=VAL_DRAW)
        writer.add_image("samples/grid", make_grid(images, nrow=8), step)

    def log_pictures(self, writer, model, step: int) -> None:
        """A diffusion model's sampling of one image a class (8 if unconditional) from noise to image, a row each,
        ten frames (a GAN samples in one pass: no strip)."""
        from torchvision.utils import make_grid

        plain, labels, steps = unwrap(model), self.grid_labels(model, 1), self.cfg.sample_steps
        if not plain.T:
            return
        n, every = 8 if labels is None else len(labels), max(1, (steps or plain.T) // 10)
        generator = torch.Generator(self.data.train.labels.device).manual_seed(VAL_DRAW)
        with evaluating(model):
            _, frames = plain.sample(n, labels, steps, self.cfg.guidance, generator, every=every)
        strip = torch.stack(frames, dim=1).flatten(0, 1).add(1).div(2).clamp(0, 1)  # (n x frames, C, H, W)
        writer.add_image("samples/denoising", make_grid(strip, nrow=len(frames)), step)

    def export(self) -> dict:
        return {"classes": self.data.classes, "sample_steps": self.cfg.sample_steps, "guidance": self.cfg.guidance}
