"""Tasks: the only place that knows what a batch means. The loop calls `train_batch(step)`,
`loss(model, batch)`, `evaluate(model, split)` and `log_pictures(writer, model, step)`; a batch is a
tuple of tensors that the loop may split along dim 0 for gradient accumulation."""

import torch
import torch.nn.functional as F

from landmarks.checkpoint import unwrap
from landmarks.data import ImageData, epoch_permutation, random_crop_flip


class ImageClassification:
    """Cross-entropy (with optional label smoothing, Szegedy et al. 2016) and top-1 accuracy on resident images."""

    eval_metrics = ("loss", "acc")  # what `evaluate` returns

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
        channels_last: bool = False,
        eval_batch_size: int = 250,  # faster than 1000 for convnets on CPU (AlexNet 1.5 s instead of 2.5 s a pass)
    ):
        if batch_size > len(data.train):
            raise ValueError(f"trainer.batch_size={batch_size} exceeds the {len(data.train)} training images")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.label_smoothing, self.crop_padding, self.flip, self.tta_flip = (
            label_smoothing,
            crop_padding,
            flip,
            tta_flip,
        )
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval_batch_size = eval_batch_size
        self.steps_per_epoch = len(data.train) // batch_size  # the last partial batch is dropped
        self._epoch, self._permutation = -1, None

    def model_kwargs(self) -> dict:
        """Constructor arguments that only the data knows: none here (configs interpolate num_classes and in_chans)."""
        return {}

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        return self.data.normalize(images).contiguous(memory_format=self.memory_format)

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of global step `step`: (images (B, C, H, W) float, labels (B,))."""
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._permutation = epoch_permutation(len(self.data.train), self.seed, epoch, self.data.train.labels.device)
        batch_idx = self._permutation[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.data.train.images[batch_idx]
        if self.crop_padding or self.flip:
            generator = torch.Generator(images.device).manual_seed(self.seed * 1_000_003 + step)
            images = random_crop_flip(images, self.crop_padding, self.flip, generator)
        return self._prepare(images), self.data.train.labels[batch_idx]

    def loss(self, model, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        images, labels = batch
        logits = model(images).float()
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return loss, {"acc": (logits.argmax(1) == labels).float().mean()}

    def predict(self, model, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of uint8 images; with tta_flip, averaged with the mirrored images' logits."""
        x = self._prepare(images)
        logits = model(x).float()
        if self.tta_flip:
            logits = (logits + model(x.flip(3)).float()) / 2
        return logits

    @torch.no_grad()
    def evaluate(self, model, split: str = "val") -> dict[str, float]:
        """Mean loss (without label smoothing) and accuracy over a whole split, in eval mode."""
        data = getattr(self.data, split)
        was_training = model.training
        model.eval()
        total_loss = torch.zeros((), device=data.labels.device)
        correct = torch.zeros((), device=data.labels.device)
        for start in range(0, len(data), self.eval_batch_size):
            labels = data.labels[start : start + self.eval_batch_size]
            logits = self.predict(model, data.images[start : start + self.eval_batch_size])
            total_loss += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
        model.train(was_training)
        return {"loss": total_loss.item() / len(data), "acc": correct.item() / len(data)}

    @torch.no_grad()
    def log_pictures(self, writer, model, step: int, max_images: int = 32) -> None:
        """Misclassified test images with their 'true -> predicted' labels; and, for models that expose them,
        attention rollout over test images (`attention_maps`) and the first layer's filters (`first_layer_filters`)."""
        from torchvision.utils import make_grid

        was_training = model.training
        model.eval()
        images, labels = self.data.test.images[:1000], self.data.test.labels[:1000]
        predictions = self.predict(model, images).argmax(1)
        wrong = (predictions != labels).nonzero().flatten()[:max_images]
        if len(wrong):
            writer.add_image("test/misclassified", make_grid(images[wrong].cpu(), nrow=8, pad_value=255), step)
            names = self.data.classes
            captions = [f"{i}: {names[labels[i]]} -> {names[predictions[i]]}" for i in wrong.tolist()]
            writer.add_text("test/misclassified", "  \n".join(captions), step)
        plain = unwrap(model)
        if hasattr(plain, "attention_maps"):
            samples = images[:16]
            heat = attention_rollout(plain.attention_maps(self._prepare(samples)))
            writer.add_image("test/attention_rollout", make_grid(overlay(samples, heat).cpu(), nrow=8), step)
        if hasattr(plain, "first_layer_filters"):
            filters = plain.first_layer_filters().float().cpu()
            filters = F.interpolate(filters, scale_factor=max(1, 32 // filters.shape[-1]), mode="nearest")
            writer.add_image(
                "model/first_layer_filters",
                make_grid(filters, nrow=16, normalize=True, scale_each=True, pad_value=1),
                step,
            )
        model.train(was_training)


def attention_rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema 2020): the head-averaged attention of every layer, with the
    residual stream as an identity, multiplied through the layers; returns the class token's row over the
    patches as a (B, grid, grid) map. `maps` holds each layer's (B, heads, 1 + N, 1 + N) weights."""
    tokens = maps[0].shape[-1]
    rollout = torch.eye(tokens, device=maps[0].device)
    for weights in maps:
        mixed = weights.float().mean(dim=1) + torch.eye(tokens, device=weights.device)
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    grid = int((tokens - 1) ** 0.5)
    return rollout[:, 0, 1:].reshape(-1, grid, grid)


def overlay(images: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """uint8 images (B, C, H, W) and maps (B, h, w) -> RGB floats in [0, 1]: the image in grey, the map in red."""
    grey = images.float().mean(dim=1, keepdim=True) / 255
    heat = F.interpolate(heat[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)
    low, high = heat.amin(dim=(2, 3), keepdim=True), heat.amax(dim=(2, 3), keepdim=True)
    heat = (heat - low) / (high - low + 1e-8)
    return torch.cat([0.5 * grey + 0.5 * heat, 0.5 * grey, 0.5 * grey], dim=1)
