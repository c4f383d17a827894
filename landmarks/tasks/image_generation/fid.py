"""A Fréchet distance that runs offline: Heusel et al. 2017's FID (Eq. 6, ||mu_1 - mu_2||^2 +
Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)) between Gaussians fitted to two sets of features) in the features of a
classifier trained on the same data, not of Inception-v3, whose weights the usual FID downloads at run time. So the
metric is named `fd_classifier`, and it compares only with itself: the same classifier, sample count and seed. Its
floor, `fd_classifier_floor`, is the distance of as many real training images to the same real images.

The classifier is any exported image classification run (`python -m landmarks.export`); Fashion-MNIST's ships in
features/fashion_mnist (resnet8_speedrun, trained by `python train.py model=resnet` and exported; its README says
its accuracy), read as safetensors, no pickle. The features are the input of its last linear layer."""

from pathlib import Path

import torch

SHIPPED = Path(__file__).parent / "features"


class FeatureNet:
    """A trained classifier's penultimate features of images in [0, 1], and its class guesses."""

    def __init__(self, run_dir: Path, device: torch.device, name: str):
        from landmarks.runs import load_run

        trained = load_run(run_dir, device=device)
        self.model, self.device = trained.model.eval(), device
        exported = trained.predictor.exported
        self.mean, self.std = exported["mean"].to(device), exported["std"].to(device)
        self.head = [m for m in self.model.modules() if isinstance(m, torch.nn.Linear)][-1]
        self.name = name  # which classifier, for the run's notes

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (N, D) in float64, class indices (N,)) of images (N, C, H, W) in [0, 1]."""
        features, guesses = [], []
        handle = self.head.register_forward_hook(lambda _, inputs, __: features.append(inputs[0].double().cpu()))
        try:
            for chunk in images.split(batch):
                guesses.append(self.model((chunk.to(self.device).float() - self.mean) / self.std).argmax(1).cpu())
        finally:
            handle.remove()
        return torch.cat(features), torch.cat(guesses)


def statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return features.mean(0), torch.cov(features.T)


def frechet_distance(first: torch.Tensor, second: torch.Tensor) -> float:
    """Eq. 6 between the Gaussians of two feature sets (N, D): Tr((S_1 S_2)^(1/2)) as the sum of the square roots
    of the eigenvalues of S_1^(1/2) S_2 S_1^(1/2), symmetric and positive semi-definite."""
    (mu1, s1), (mu2, s2) = statistics(first), statistics(second)
    values, vectors = torch.linalg.eigh(s1)
    root = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root @ s2 @ root).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross)


def feature_net(dataset: str, classifier: str | None, device: torch.device) -> FeatureNet | None:
    """data.fid_classifier's run dir, else the one shipped for `dataset`; None where there is neither."""
    path = Path(classifier) if classifier else SHIPPED / dataset
    if classifier and not path.exists():
        raise ValueError(f"data.fid_classifier={classifier} is not here; give an exported image classifier's dir")
    if not (path / "model.json").exists():
        return None
    return FeatureNet(path, device, classifier or f"the classifier shipped in features/{dataset}")
