"""Shazeer et al. 2017, "Outrageously Large Neural Networks"; Fedus et al. 2021, "Switch Transformers" (Fig. 1 and
4: at the same FLOPs per token, more experts give a lower loss at every step); Jiang et al. 2024, Mixtral's top-2.
The GPT of the recipe (gpt_tiny on tiny Shakespeare, Muon on the matrices, the experts' each apart) with its dense
MLP, and with every MLP a mixture of experts whose active width per token equals the dense one: 4 experts of the
same width at top-1 (Switch), and 8 experts of half the width at top-2 (Mixtral's routing)."""

from landmarks.claims.claim import Claim, register
from landmarks.claims.table import by_point, mean, plot_curve

STEPS, WIDTH = 800, 512  # gpt_tiny's MLP: 4 x 128 channels


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    loss = {point: mean(group, "val/loss") for point, group in groups.items()}
    sparse = {point: value for point, value in loss.items() if point != "dense"}
    lower = all(value < loss["dense"] for value in sparse.values())
    shown = ", ".join(f"{point} {value:.3f}" for point, value in loss.items())
    return lower, f"validation loss after {rows[0]['metrics']['step']} steps at equal FLOPs per token: {shown}"


def draw(rows: list[dict], figure) -> None:
    """Switch's Fig. 4 redrawn: training loss against steps, a line per model; validation loss at its passes."""
    groups = by_point(rows)
    left, right = figure.subplots(1, 2, sharey=True)
    for point, group in groups.items():
        plot_curve(left, group, "train/loss", point)
        plot_curve(right, group, "val/loss", point, marker="o")
    left.set(xlabel="step", ylabel="loss (nats a character)", title="training")
    right.set(xlabel="step", title="validation")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend()


CLAIM = register(
    Claim(
        name="moe",
        paper="Fedus et al. 2021 (Switch), Fig. 1 and 4; Jiang et al. 2024 (Mixtral)",
        statement="at equal FLOPs per token a mixture of experts reaches a lower loss than the dense model",
        budget_min=18,
        base=("model=gpt", f"trainer.steps={STEPS}", "trainer.log_every=25", f"trainer.eval_every={STEPS // 4}"),
        points={
            "dense": (f"model.mlp_hidden={WIDTH}",),
            "4 experts, top-1": (f"model.mlp_hidden={WIDTH}", "model.moe_experts=4", "model.moe_top_k=1"),
            "8 experts, top-2": (f"model.mlp_hidden={WIDTH // 2}", "model.moe_experts=8", "model.moe_top_k=2"),
        },
        quick=(
            "trainer.steps=2",
            "trainer.log_every=1",
            "trainer.eval_every=1",
            "data.val_fraction=0.01",
            "data.val_windows=4",
            "data.sample_length=4",
        ),
        verdict=verdict,
        draw=draw,
        columns={"val loss": "val/loss", "test loss": "test/loss", "training FLOPs a sample": "flops_per_sample"},
        curves=("train/loss", "val/loss", "train/aux_loss"),
        differs="a 4-layer character model of 0.8M dense parameters on 1M characters, not T5 on C4; 800 steps of "
        "16 windows; dropless routing, not a capacity factor",
    )
)
