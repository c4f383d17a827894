"""Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks", Sec. 4-5 and Fig. 6: a
standard network's accuracy collapses under small L-infinity PGD perturbations; trained on PGD's examples (the
min-max of Eq. 2.1) it keeps much of it, at some cost in clean accuracy. The default ResNet, trained as its recipe
says, and the same trained on PGD examples at eps 0.1 (configs/experiment/robust_fashion_mnist.yaml's 3 steps), both
attacked by a 10-step PGD at several eps on the first 500 test images."""

from pathlib import Path

from landmarks.claims.claim import QUICK_IMAGES, Claim, register
from landmarks.claims.table import by_point, mean, plot_points, values

EPS, TRAIN_EPS, SAMPLES = (0.0, 0.025, 0.05, 0.1, 0.15), 0.1, 500


def robustness(run_dir: Path) -> dict:
    """Accuracy under a 10-step PGD (Madry et al.'s random start, step 2.5 eps / steps) at each of EPS."""
    from landmarks.runs import load_run
    from landmarks.tasks.image_classification.attacks import AttackConfig
    from landmarks.tasks.image_classification.robustness import accuracy_under_attack

    trained = load_run(run_dir)
    task = trained.task()
    accuracies, _ = accuracy_under_attack(task, trained.model, AttackConfig(name="pgd", steps=10), list(EPS), SAMPLES)
    return {f"pgd_acc@{eps:g}": accuracy for eps, accuracy in accuracies.items()}


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    at = {point: {eps: mean(groups[point], f"pgd_acc@{eps:g}") for eps in EPS} for point in groups}
    robust = at["PGD-trained"][TRAIN_EPS] > at["standard"][TRAIN_EPS] + 0.2
    return robust, (
        f"under PGD at eps {TRAIN_EPS}: {at['standard'][TRAIN_EPS]:.1%} standard, {at['PGD-trained'][TRAIN_EPS]:.1%} "
        f"PGD-trained; clean: {at['standard'][0]:.1%} and {at['PGD-trained'][0]:.1%}"
    )


def draw(rows: list[dict], figure) -> None:
    """Accuracy against eps for each training, the seeds' range as bars; the training eps marked."""
    groups = by_point(rows)
    axes = figure.subplots()
    for point, group in groups.items():
        plot_points(axes, list(EPS), [values(group, f"pgd_acc@{eps:g}") for eps in EPS], point)
    axes.axvline(TRAIN_EPS, color="tab:gray", lw=0.8, label="training eps")
    axes.set(xlabel="eps (L-infinity, pixels in [0, 1])", ylabel=f"accuracy under PGD-10 ({SAMPLES} test images)")
    axes.set(ylim=(0, 1))
    axes.grid(alpha=0.3)
    axes.legend()


CLAIM = register(
    Claim(
        name="adversarial_training",
        paper="Madry et al. 2018, Sec. 4 and Fig. 6",
        statement="PGD adversarial training keeps accuracy under PGD attacks that drive a standard model's toward "
        "zero (here: at least 20 points more at the training eps)",
        budget_min=13,
        base=("model=resnet", f"attack.eps={TRAIN_EPS}", "attack.steps=3", "trainer.eval_every=0"),
        points={"standard": ("trainer.adversarial=null",), "PGD-trained": ("trainer.adversarial=pgd",)},
        quick=(*QUICK_IMAGES, "data.test_size=8"),
        verdict=verdict,
        draw=draw,
        columns={"clean acc": "pgd_acc@0", f"PGD acc at {TRAIN_EPS}": f"pgd_acc@{TRAIN_EPS:g}"},
        measure=robustness,
        differs="Fashion-MNIST, not MNIST or CIFAR-10; eps 0.1, not 0.3 (MNIST) or 8/255 (CIFAR-10); 3 PGD steps in "
        "training, not 40 (MNIST) or 7 (CIFAR-10); the recipe's 2.5 epochs",
    )
)
