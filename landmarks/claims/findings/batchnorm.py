"""Ioffe and Szegedy 2015, "Batch Normalization": Fig. 1 (a net with BN reaches a given test accuracy in fewer
steps) and Sec. 4.2.1 (BN makes higher learning rates usable: "Increase learning rate", 5x and 30x). The
small-image AlexNet with and without BN between each convolution and its nonlinearity, trained by SGD with
momentum at a base learning rate and at 5 and 25 times it. A run fails to train if its loss turns non-finite or its
final validation accuracy stays below 50%."""

from landmarks.claims.claim import QUICK_IMAGES, Claim, register
from landmarks.claims.table import by_point, first_step, plot_curve

STEPS, BASE_LR, TARGET = 400, 0.01, 0.85  # validation accuracy to reach
MULTIPLES = (1, 5, 25)


def label(bn: bool, multiple: int) -> str:
    return f"{'BN' if bn else 'no BN'}, lr x{multiple}"


def trains(rows: list[dict]) -> bool:
    """Every seed of a point kept a finite loss and ended above 50% validation accuracy."""
    return all(not row.get("diverged") and row["metrics"]["val/acc"] >= 0.5 for row in rows)


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    plain, normed = (first_step(groups[label(bn, 1)], "val/acc", TARGET) for bn in (False, True))
    faster = normed is not None and (plain is None or normed < plain)
    highest = {bn: max((m for m in MULTIPLES if trains(groups[label(bn, m)])), default=0) for bn in (False, True)}
    tolerates = highest[True] > highest[False]
    reached = {bn: "never" if at is None else f"at step {at:.0f}" for bn, at in ((True, normed), (False, plain))}
    trained = {bn: f"x{highest[bn]}" if highest[bn] else "none" for bn in highest}
    return faster and tolerates, (
        f"{TARGET:.0%} validation accuracy {reached[True]} with BN, {reached[False]} without (mean over seeds); the "
        f"highest learning rate at which every seed trains: {trained[True]} with BN, {trained[False]} without"
    )


def draw(rows: list[dict], figure) -> None:
    """Fig. 1(a) redrawn: validation accuracy against steps, with BN solid and without dashed, a colour per rate."""
    groups = by_point(rows)
    axes = figure.subplots()
    for multiple, color in zip(MULTIPLES, ("tab:blue", "tab:orange", "tab:red")):
        for bn, style in ((True, "-"), (False, "--")):
            name = label(bn, multiple)
            plot_curve(axes, groups[name], "val/acc", name, color=color, linestyle=style)
    axes.axhline(TARGET, color="tab:gray", lw=0.8)
    axes.set(xlabel="step", ylabel="validation accuracy", ylim=(0, 1), title=f"SGD, base learning rate {BASE_LR}")
    axes.grid(alpha=0.3)
    axes.legend(ncol=2)


CLAIM = register(
    Claim(
        name="batchnorm",
        paper="Ioffe and Szegedy 2015, Fig. 1 and Sec. 4.2.1",
        statement="with BN a net reaches a given accuracy in fewer steps, and trains at learning rates that stop it "
        "training without BN",
        budget_min=10,
        base=(
            "model=alexnet",
            "optim=sgd",
            "optim.nesterov=false",
            "optim.schedule=constant",
            "optim.warmup=0",
            f"trainer.steps={STEPS}",
            "trainer.log_every=10",
            "trainer.eval_every=50",
        ),
        points={
            label(bn, multiple): (f"model.batch_norm={bn}", f"optim.lr={BASE_LR * multiple:g}")
            for multiple in MULTIPLES
            for bn in (False, True)
        },
        quick=QUICK_IMAGES,
        verdict=verdict,
        draw=draw,
        columns={"val acc": "val/acc", "test acc": "test/acc"},
        differs="the small-image AlexNet on Fashion-MNIST, not Inception on ImageNet (Sec. 4.2) or a sigmoid MLP "
        "on MNIST (Fig. 1); 400 steps at a constant learning rate",
    )
)
