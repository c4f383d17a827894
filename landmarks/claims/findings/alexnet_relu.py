"""Krizhevsky et al. 2012, "ImageNet Classification with Deep Convolutional Neural Networks": Fig. 1, a CNN with
ReLUs reaches 25% training error six times sooner than the same net with tanh units (no regularisation, each at its
fastest learning rate); Sec. 4.2, without dropout the network overfits substantially. Here the small-image AlexNet
on Fashion-MNIST with its recipe's AdamW, one learning rate for both units; the gap is the final model's accuracy
on its training images (in eval mode, so that dropout does not lower it) less its test accuracy."""

from pathlib import Path

from landmarks.claims.claim import QUICK_IMAGES, Claim, register
from landmarks.claims.table import by_point, first_step, mean, plot_curve

STEPS, TRAINING_ERROR = 700, 0.25  # the paper's threshold


def training_accuracy(run_dir: Path) -> dict:
    """The trained model's accuracy on its own training images, in eval mode."""
    from landmarks.runs import load_run

    return {"train_eval/acc": load_run(run_dir).evaluate("train")["acc"]}


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    reach = {point: first_step(groups[point], "train/acc", 1 - TRAINING_ERROR) for point in ("relu", "tanh")}
    gap = {point: mean(groups[point], "train_eval/acc") - mean(groups[point], "test/acc") for point in groups}
    sooner = reach["relu"] is not None and (reach["tanh"] is None or reach["relu"] < reach["tanh"])
    ratio = f"{reach['tanh'] / reach['relu']:.1f} times sooner" if sooner and reach["tanh"] else "not sooner"
    narrows = gap["relu, dropout 0.5"] < gap["relu"]
    at = {point: "never" if step is None else f"at step {step:.0f}" for point, step in reach.items()}
    return sooner and narrows, (
        f"{TRAINING_ERROR:.0%} training error {at['relu']} with ReLUs, {at['tanh']} with tanh "
        f"({ratio}; the paper: six); the gap between training and test accuracy {gap['relu']:.2%} without dropout, "
        f"{gap['relu, dropout 0.5']:.2%} with it ({'narrower' if narrows else 'not narrower'})"
    )


def draw(rows: list[dict], figure) -> None:
    """Fig. 1: training error against steps, ReLU solid and tanh dashed; beside it, training and test error with
    and without dropout."""
    groups = by_point(rows)
    left, right = figure.subplots(1, 2)
    for point, style in (("relu", "-"), ("tanh", "--")):
        plot_curve(left, groups[point], "train/acc", point, lambda v: 1 - v, linestyle=style, color="black")
    left.axhline(TRAINING_ERROR, color="tab:gray", lw=0.8)
    left.set(xlabel="step", ylabel="training error", ylim=(0, 0.75), title="ReLU against tanh (Fig. 1)")
    points = ["relu", "relu, dropout 0.5"]
    for offset, (key, name) in enumerate((("train_eval/acc", "training"), ("test/acc", "test"))):
        errors = [1 - mean(groups[point], key) for point in points]
        right.bar([i + 0.4 * offset for i in range(len(points))], errors, width=0.4, label=f"{name} error")
    right.set_xticks([0.2, 1.2], ["no dropout", "dropout 0.5"])
    right.set(ylabel="error", title="dropout (Sec. 4.2)")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend()


CLAIM = register(
    Claim(
        name="alexnet_relu",
        paper="Krizhevsky et al. 2012, Fig. 1 and Sec. 4.2",
        statement="ReLUs reach 25% training error sooner than tanh units (six times on CIFAR-10); dropout narrows "
        "the gap between training and test error",
        budget_min=11,
        base=("model=alexnet", f"trainer.steps={STEPS}", "trainer.log_every=10", "trainer.eval_every=500"),
        points={
            "relu": ("model.activation=relu", "model.dropout=0"),
            "tanh": ("model.activation=tanh", "model.dropout=0"),
            "relu, dropout 0.5": ("model.activation=relu", "model.dropout=0.5"),
        },
        quick=(*QUICK_IMAGES, "data.train_size=64"),  # measured on its training images: few of them
        verdict=verdict,
        draw=draw,
        columns={"train acc (eval mode)": "train_eval/acc", "test acc": "test/acc"},
        measure=training_accuracy,
        differs="Fashion-MNIST, not CIFAR-10; the small-image AlexNet (five convolutions, 2 hidden layers), not a "
        "four-layer CNN; one AdamW learning rate for both units, not each its fastest; 700 steps",
    )
)
