"""Image classification: cross-entropy (with optional label smoothing, Szegedy et al. 2016) and top-1
accuracy on images resident on the device (or read ahead from disk), augmented in batches there (data.py)."""

import itertools
from dataclasses import replace

import torch
import torch.nn.functional as F

from landmarks.hooks import hook
from landmarks.schema import fail
from landmarks.tasks.base import EpochOrder, Task, evaluating, fit_batch_size, unwrap
from landmarks.tasks.confusion import confusion_matrix_figure
from landmarks.tasks.image_classification.attacks import ATTACKS, AttackConfig, attack
from landmarks.tasks.image_classification.data import (
    ImageData,
    epoch_batches,
    load_image_data,
    multi_view_logits,
    random_crop_flip,
)
from landmarks.tasks.image_classification.datasets import DATASETS, ImageDataConfig
from landmarks.tasks.image_classification.pictures import attention_rollout, overlay
from landmarks.tasks.image_classification.predict import ImagePredictor


class ImageClassification(Task):
    """The task of (image, label) data. Models get `num_classes` and `in_chans` from the data."""

    eval_metrics = {"loss": "min", "acc": "max"}
    data_config, datasets, model_sizes = ImageDataConfig, DATASETS, ("num_classes", "in_chans")
    predictor = ImagePredictor  # what load_run's run offers: classify, translate or generate
    config_sections = {"attack": AttackConfig}  # adversarial training (trainer.adversarial) and eval.py attack=...

    def __init__(
        self,
        data: ImageData,
        *,
        batch_size: int,
        seed: int,
        label_smoothing: float = 0.0,
        crop_padding: int = 0,
        flip: bool = False,
        tta_flip: bool = False,
        tta_translate: int = 0,
        channels_last: bool = False,
        eval_batch_size: int = 250,  # faster than 1000 for convnets on CPU (docs/recipes.md)
        attack: AttackConfig | None = None,  # train on its adversarial examples (Madry et al. 2018)
    ):
        batch_size = fit_batch_size(batch_size, len(data.train), "training images")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.label_smoothing, self.crop_padding, self.flip, self.tta_flip = (
            label_smoothing,
            crop_padding,
            flip,
            tta_flip,
        )
        self.tta_translate = tta_translate
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval_batch_size, self.attack = eval_batch_size, attack
        self.steps_per_epoch = len(data.train) // batch_size  # the last partial batch is dropped
        self.batch_index = EpochOrder(self._draw_epoch, self.steps_per_epoch)
        self._read_ahead, self._next_step, self.share = iter(()), None, slice(None)

    @classmethod
    def from_config(cls, data: ImageDataConfig, *, trainer, seed: int, device: torch.device, attack=None):
        augment = data.augment
        return cls(
            load_image_data(data, seed=seed, device=device),
            batch_size=trainer.batch_size,
            seed=seed,
            label_smoothing=trainer.label_smoothing,
            crop_padding=augment.crop_padding,
            flip=augment.flip,
            tta_flip=augment.tta_flip,
            tta_translate=augment.tta_translate,
            channels_last=data.channels_last,
            attack=attack,
        )

    @classmethod
    def run_options(cls, trainer, sections: dict) -> dict:
        """trainer.adversarial=pgd: train on attack.*'s adversarial examples (Madry et al. 2018)."""
        if trainer.adversarial is None:
            return {}
        if trainer.adversarial not in ATTACKS:
            raise fail(
                "trainer.adversarial", trainer.adversarial, f"an attack to train on: {' or '.join(ATTACKS)}, or null"
            )
        return {"attack": replace(sections["attack"], name=trainer.adversarial)}

    def model_kwargs(self) -> dict:
        """The number of classes found in the data and the images' channels."""
        return {"num_classes": len(self.data.classes), "in_chans": self.data.mean.shape[1]}

    def _draw_epoch(self, epoch: int, device: torch.device | None = None) -> torch.Tensor:
        """The epoch's batches of indices (steps_per_epoch, batch_size), on `device` (the labels' by default)."""
        return epoch_batches(
            len(self.data.train), self.batch_size, self.seed, epoch, device or self.data.train.labels.device
        )

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        return self.data.normalize(images).contiguous(memory_format=self.memory_format)

    def _standardize(self, images: torch.Tensor) -> torch.Tensor:
        """Float images in [0, 1] -> the model's input, as `_prepare` makes it from uint8."""
        return ((images - self.data.mean) / self.data.std).contiguous(memory_format=self.memory_format)

    def classifier(self, model, views: bool = True):
        """`model` as a function of float images in [0, 1] -> logits, with the run's test-time views unless
        `views` is false: what the attacks (attacks.py) differentiate. At uint8 values it equals `predict`."""
        flip, translate = (self.tta_flip, self.tta_translate) if views else (False, 0)
        return lambda images: multi_view_logits(model, images, self._standardize, flip, translate)

    def _train_images(self, step: int) -> torch.Tensor:
        """The uint8 images of step after step, read ahead; a step out of turn (a resumed run) starts over there.
        Files are decoded for this process's share of the batch alone (`self.share`); the rest stay zeros, so that
        the batch's augmentation draws as in one process."""
        if step != self._next_step:
            device = self.data.train.index_device  # the host's for files read from disk: no sync to list them
            order = EpochOrder(lambda epoch: self._draw_epoch(epoch, device), self.steps_per_epoch)  # runs ahead
            self._read_ahead = self.data.train.batches(order(s)[self.share] for s in itertools.count(step))
        self._next_step = step + 1
        images = next(self._read_ahead)
        if len(images) == self.batch_size:
            return images
        whole = images.new_zeros((self.batch_size, *images.shape[1:]))
        whole[self.share] = images
        return whole

    def local_batch(self, step: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's share of the global batch; a folder streamed from disk decodes that share alone."""
        if self.data.train.streamed:
            share = self.batch_size // world
            self.share = slice(rank * share, (rank + 1) * share)
        return super().local_batch(step, rank, world)

    def init_model(self, model) -> None:
        """Airbench's patch whitening (`init_whitening`), from the first 5,000 training images, for models with it."""
        if init_whitening := hook(model, "init_whitening"):
            init_whitening(self._prepare(self.data.train.read(slice(5000))))

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of global step `step`: (images (B, C, H, W) float, labels (B,))."""
        batch_idx = self.batch_index(step)
        images = self._train_images(step)
        if self.crop_padding or self.flip:
            generator = torch.Generator(images.device).manual_seed(self.seed * 1_000_003 + step)
            images = random_crop_flip(images, self.crop_padding, self.flip, generator)
        return self._prepare(images), self.data.train.labels[batch_idx]

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Cross-entropy and accuracy; under adversarial training, on the batch's adversarial examples alone (Madry
        et al. 2018's min-max; FGSM's from a random start, Wong et al. 2020), made with the model in eval mode (no
        BatchNorm statistics or dropout from the attack's passes)."""
        images, labels = batch
        if self.attack:
            with evaluating(unwrap(model)) as plain:
                mean, std = self.data.mean, self.data.std
                classify = self.classifier(plain, views=False)
                adversarial = attack(classify, images * std + mean, labels, self.attack, training=True)
            images = self._standardize(adversarial)
        logits = model(images).float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return loss, {"acc": (logits.argmax(1) == labels).float().mean()}

    def predict(self, model, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of uint8 images, averaged over the test-time views (tta_flip, tta_translate)."""
        return multi_view_logits(model, images, self._prepare, self.tta_flip, self.tta_translate)

    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        """Mean loss (without label smoothing) and accuracy over a whole split."""
        data = getattr(self.data, split)
        total_loss = torch.zeros((), device=data.labels.device)
        correct = torch.zeros((), device=data.labels.device)
        chunks = [slice(start, start + self.eval_batch_size) for start in range(0, len(data), self.eval_batch_size)]
        with evaluating(model):
            for chunk, images in zip(chunks, data.batches(chunks)):
                labels = data.labels[chunk]
                logits = self.predict(model, images)
                total_loss += F.cross_entropy(logits, labels, reduction="sum")
                correct += (logits.argmax(1) == labels).sum()
        return {"loss": total_loss.item() / len(data), "acc": correct.item() / len(data)}

    def export(self) -> dict:
        data = self.data
        views = {"tta_flip": self.tta_flip, "tta_translate": self.tta_translate}
        return {"classes": data.classes, "mean": data.mean.cpu(), "std": data.std.cpu(), **views}

    def log_pictures(self, writer, model, step: int, max_images: int = 32) -> None:
        """Misclassified test images with their 'true -> predicted' labels; and, for models that expose them,
        attention rollout over test images (`attention_maps`) and the first layer's filters (`first_layer_filters`)."""
        from torchvision.utils import make_grid

        images, labels = self.data.test.read(slice(1000)), self.data.test.labels[:1000]
        plain = unwrap(model)
        with evaluating(model):
            predictions = self.predict(model, images).argmax(1)
            writer.add_figure(
                "test/confusion_matrix", confusion_matrix_figure(labels, predictions, self.data.classes), step
            )
            wrong = (predictions != labels).nonzero().flatten()[:max_images]
            if len(wrong):
                writer.add_image("test/misclassified", make_grid(images[wrong].cpu(), nrow=8, pad_value=255), step)
                names = self.data.classes
                captions = [f"{i}: {names[labels[i]]} -> {names[predictions[i]]}" for i in wrong.tolist()]
                writer.add_text("test/misclassified", "  \n".join(captions), step)
            if attention_maps := hook(plain, "attention_maps"):
                samples = images[:16]
                heat = attention_rollout(attention_maps(self._prepare(samples)))
                writer.add_image("test/attention_rollout", make_grid(overlay(samples, heat).cpu(), nrow=8), step)
            if first_layer_filters := hook(plain, "first_layer_filters"):
                filters = first_layer_filters().float().cpu()
                filters = F.interpolate(filters, scale_factor=max(1, 32 // filters.shape[-1]), mode="nearest")
                grid = make_grid(filters, nrow=16, normalize=True, scale_each=True, pad_value=1)
                writer.add_image("model/first_layer_filters", grid, step)
