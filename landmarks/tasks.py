"""Tasks: the only place that knows what a batch means. The loop calls `train_batch(step)`,
`loss(model, batch)`, `evaluate(model, split)` and `log_pictures(writer, model, step)`; a batch is a
tuple of tensors that the loop may split along dim 0 for gradient accumulation."""
import torch
import torch.nn.functional as F

from landmarks.data import ImageData, epoch_permutation, random_crop_flip


class ImageClassification:
    """Cross-entropy (with optional label smoothing, Szegedy et al. 2016) and top-1 accuracy on resident images."""

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
        eval_batch_size: int = 1000,
    ):
        if batch_size > len(data.train):
            raise ValueError(f"trainer.batch_size={batch_size} exceeds the {len(data.train)} training images")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.label_smoothing, self.crop_padding, self.flip, self.tta_flip = label_smoothing, crop_padding, flip, tta_flip
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval_batch_size = eval_batch_size
        self.steps_per_epoch = len(data.train) // batch_size  # the last partial batch is dropped
        self._epoch, self._permutation = -1, None

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
        """Misclassified test images as a grid, with their 'true -> predicted' labels as text."""
        from torchvision.utils import make_grid

        was_training = model.training
        model.eval()
        images, labels = self.data.test.images[:1000], self.data.test.labels[:1000]
        predictions = self.predict(model, images).argmax(1)
        model.train(was_training)
        wrong = (predictions != labels).nonzero().flatten()[:max_images]
        if len(wrong) == 0:
            return
        writer.add_image("test/misclassified", make_grid(images[wrong].cpu(), nrow=8, pad_value=255), step)
        names = self.data.classes
        captions = [f"{i}: {names[labels[i]]} -> {names[predictions[i]]}" for i in wrong.tolist()]
        writer.add_text("test/misclassified", "  \n".join(captions), step)
