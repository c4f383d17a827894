"""Wall time per epoch: the Landmarks loop against PyTorch Lightning's Trainer, the framework people would
pick instead, training the same model on the same data with the same optimizer and schedule, written the way
a Lightning user writes it (a LightningModule, a DataLoader over the tensors, the default logger and
checkpointing). Both skip augmentation and validation; each side's time is its training loop alone.

    pip install lightning && python bench/lightning_vs_landmarks.py [model=resnet] [trainer.max_steps=200]
"""

import sys
import tempfile
import time

import lightning as L
import torch
import torch.nn.functional as F
from common import interleaved_seconds, landmarks_loop_seconds, machine, plain_training_run
from torch.utils.data import DataLoader, TensorDataset

from landmarks.build import build_model, seed_everything
from landmarks.config import validate


class Classifier(L.LightningModule):
    def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float, total_steps: int, warmup: float):
        super().__init__()
        self.model, self.lr, self.weight_decay, self.total_steps, self.warmup = (
            model,
            lr,
            weight_decay,
            total_steps,
            warmup,
        )

    def training_step(self, batch, batch_index):
        images, labels = batch
        logits = self.model(images.contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits, labels)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, self.lr, total_steps=self.total_steps, pct_start=self.warmup, anneal_strategy="linear"
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class LoopTimer(L.Callback):
    def on_train_start(self, trainer, module):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, module):
        self.seconds = time.perf_counter() - self.start


def lightning_seconds(cfg, task, device: torch.device, steps: int, root: str) -> float:
    seed_everything(cfg.seed)
    module = Classifier(
        build_model(validate(cfg), task, device),
        cfg.optim.lr,
        cfg.optim.weight_decay,
        round(cfg.trainer.epochs * task.steps_per_epoch),
        cfg.optim.warmup,
    )
    train = task.data.train
    loader = DataLoader(
        TensorDataset(task.data.normalize(train.images), train.labels),
        batch_size=cfg.trainer.batch_size,
        shuffle=True,
        drop_last=True,
    )
    timer = LoopTimer()
    trainer = L.Trainer(
        max_steps=steps,
        accelerator=device.type,
        devices=1,
        callbacks=[timer],
        default_root_dir=root,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision="bf16-mixed" if device.type == "cuda" else "32-true",
    )
    trainer.fit(module, loader)
    return timer.seconds


def main(overrides: list[str]) -> None:
    cfg, device, task = plain_training_run(overrides, steps=200)
    steps = cfg.trainer.max_steps
    with tempfile.TemporaryDirectory() as root:
        seconds = interleaved_seconds(
            {
                "landmarks": lambda: landmarks_loop_seconds(cfg, task, device),
                "lightning": lambda: lightning_seconds(cfg, task, device, steps, root),
            },
            device,
            rounds=3,
        )
    per_epoch = {name: value / steps * task.steps_per_epoch for name, value in seconds.items()}
    print(
        f"{cfg.model.name} on {cfg.data.name}, batch {cfg.trainer.batch_size}, {machine()}, Lightning {L.__version__}"
    )
    print(
        f"seconds per epoch: landmarks {per_epoch['landmarks']:.1f}, lightning {per_epoch['lightning']:.1f} "
        f"(landmarks / lightning {per_epoch['landmarks'] / per_epoch['lightning']:.3f})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
