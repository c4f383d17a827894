"""Dosovitskiy et al. 2020, "An Image is Worth 16x16 Words", Fig. 3 and 4: trained on little data a ViT trails
ResNets of similar cost (it lacks their inductive biases: locality, translation equivariance); as the data grows the
gap closes and, at JFT-300M's scale, reverses. Here the small ViT and a ResNet widened to about its FLOPs per image,
each with its tuned Fashion-MNIST recipe and the same steps, on seeded subsets of the training images."""

from landmarks.claims.claim import QUICK_IMAGES, Claim, register
from landmarks.claims.table import by_point, mean, plot_points, values

STEPS, SIZES = 400, (1000, 4000, 15000, 58000)
MODELS = {"ViT": ("model=vit",), "ResNet": ("model=resnet", "model.widths=[30,60,120]")}  # ~equal FLOPs per image


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    accuracy = {point: mean(group, "test/acc") for point, group in groups.items()}
    gap = {size: accuracy[f"ResNet, {size}"] - accuracy[f"ViT, {size}"] for size in SIZES}
    trails, closes = gap[SIZES[0]] > 0, gap[SIZES[-1]] < gap[SIZES[0]]
    shown = ", ".join(f"{gap[size]:+.2%} at {size:,}" for size in SIZES)
    closing = gap[SIZES[0]] - gap[SIZES[-1]]
    return trails and closes, f"ResNet's test accuracy less ViT's: {shown} training images (closes by {closing:.2%})"


def draw(rows: list[dict], figure) -> None:
    """Fig. 3 redrawn: test accuracy against training-set size, a line per model, the seeds' range as bars."""
    groups = by_point(rows)
    axes = figure.subplots()
    for model in MODELS:
        flops = mean(groups[f"{model}, {SIZES[0]}"], "flops_per_sample") / 3e6  # training FLOPs: 3 x forward
        found = [values(groups[f"{model}, {size}"], "test/acc") for size in SIZES]
        plot_points(axes, list(SIZES), found, f"{model} ({flops:.0f} MFLOPs forward)")
    axes.set(xscale="log", xlabel="training images", ylabel="test accuracy", title=f"{STEPS} steps of 128 images")
    axes.grid(alpha=0.3)
    axes.legend()


CLAIM = register(
    Claim(
        name="vit_data",
        paper="Dosovitskiy et al. 2020, Fig. 3 and 4",
        statement="with little data a ViT trails a ResNet of similar cost; the gap closes as the data grows",
        budget_min=16,
        base=(f"trainer.steps={STEPS}", "trainer.log_every=25", "trainer.eval_every=0"),
        points={
            f"{model}, {size}": (*overrides, f"data.train_size={size}")
            for model, overrides in MODELS.items()
            for size in SIZES
        },
        quick=QUICK_IMAGES,
        verdict=verdict,
        draw=draw,
        columns={"test acc": "test/acc", "training FLOPs an image": "flops_per_sample"},
        differs="Fashion-MNIST subsets of 1k to 58k images, not ImageNet to JFT-300M (1.3M to 300M); a 4-layer ViT "
        "of 7x7 patches and a 3-block ResNet; 400 steps of training for every size, not pre-training and transfer",
    )
)
