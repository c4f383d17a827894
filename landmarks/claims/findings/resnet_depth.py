"""He et al. 2015, "Deep Residual Learning for Image Recognition", Fig. 1 and Fig. 6: the degradation problem. A
deeper plain net (no shortcuts) has higher *training* error than a shallower one, so it is not overfitting; with
shortcuts the deeper net has the lower error. The paper's CIFAR nets (6n+2 layers, 16/32/64 channels: 20 and 56
layers) and its optimizer (SGD, momentum 0.9, weight decay 1e-4, learning rate 0.1, constant as in its first 32k
iterations, batch 128), on Fashion-MNIST's 28 px images behind the speedrun ResNet's pooling stem (14/7/4 px maps)."""

from landmarks.claims.claim import QUICK_IMAGES, Claim, register
from landmarks.claims.table import by_point, mean, plot_curve

STEPS = 600
DEPTHS = {20: 3, 56: 9}  # layers: blocks per stage (n of 6n+2)


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    error = {point: 1 - mean(group, "train/acc") for point, group in groups.items()}
    degrades, residual_gains = error["plain-56"] > error["plain-20"], error["resnet-56"] < error["resnet-20"]
    return degrades and residual_gains, (
        f"training error at step {rows[0]['metrics']['step']}: plain-20 {error['plain-20']:.2%}, plain-56 "
        f"{error['plain-56']:.2%} ({'higher' if degrades else 'not higher'}: "
        f"{'degradation' if degrades else 'no degradation'}); ResNet-20 {error['resnet-20']:.2%}, ResNet-56 "
        f"{error['resnet-56']:.2%} ({'lower' if residual_gains else 'not lower'})"
    )


def draw(rows: list[dict], figure) -> None:
    """Fig. 6's two panels: plain nets left, ResNets right; thin lines training error, bold validation error."""
    groups = by_point(rows)
    left, right = figure.subplots(1, 2, sharey=True)
    for axes, kind in ((left, "plain"), (right, "resnet")):
        for depth, color in zip(DEPTHS, ("tab:orange", "tab:red")):
            point = f"{kind}-{depth}"
            plot_curve(axes, groups[point], "train/acc", f"{point} train", lambda v: 100 * (1 - v), color=color, lw=0.8)
            plot_curve(axes, groups[point], "val/acc", f"{point} val", lambda v: 100 * (1 - v), color=color, lw=2.5)
        axes.set(xlabel="step", ylabel="error (%)", title="plain" if kind == "plain" else "residual")
        axes.grid(alpha=0.3)
        axes.legend()


CLAIM = register(
    Claim(
        name="resnet_depth",
        paper="He et al. 2015, Fig. 1 and 6",
        statement="a deeper plain net trains to higher training error than a shallower one; a deeper ResNet to lower",
        budget_min=15,
        base=(
            "model=resnet",
            "model.widths=[16,32,64]",
            "optim=sgd",
            "optim.lr=0.1",
            "optim.nesterov=false",
            "optim.weight_decay=1e-4",
            "optim.schedule=constant",
            "optim.warmup=0",
            f"trainer.steps={STEPS}",
            "trainer.log_every=25",
            f"trainer.eval_every={STEPS // 5}",
        ),
        points={
            f"{kind}-{depth}": (f"model.plain={kind == 'plain'}", f"model.layers=[{n},{n},{n}]")
            for kind in ("plain", "resnet")
            for depth, n in DEPTHS.items()
        },
        quick=QUICK_IMAGES,
        verdict=verdict,
        draw=draw,
        columns={"train acc": "train/acc", "val acc": "val/acc", "test acc": "test/acc"},
        differs="Fashion-MNIST, not CIFAR-10; a pooling stem (maps of 14/7/4 px, not 32/16/8); 600 steps at the "
        "constant learning rate of the paper's first phase, not 64k with two drops; no random crops",
    )
)
