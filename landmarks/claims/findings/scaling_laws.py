"""Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (Fig. 1, 14: loss falls as a power law of compute,
and the compute-optimal model grows as N_opt ~ C^0.73); Hoffmann et al. 2022, "Training Compute-Optimal Large
Language Models" (Chinchilla: N_opt ~ C^0.50 by Approach 1, the envelope of the training curves, and C^0.49 by
Approach 2, the minima of IsoFLOP profiles). GPTs of five sizes (3 layers, 32 to 128 channels) each trained on tiny
Shakespeare's characters for three compute budgets (trainer.flop_budget: the loop's own FLOP count sizes each run,
whose one-cycle schedule ends at its budget, as Chinchilla matched the cosine to the run), and the fitted exponents
printed beside the papers'."""

import math

from landmarks.claims.claim import Claim, register
from landmarks.claims.table import by_point, curve, mean

WIDTHS, BUDGETS = (32, 48, 64, 96, 128), (5e11, 1.5e12, 5e12)  # channels (heads of 16), training FLOPs
PAPERS = {"Kaplan et al. 2020": 0.73, "Chinchilla, Approach 1": 0.50, "Chinchilla, Approach 2": 0.49}


def label(width: int, budget: float) -> str:
    return f"d{width}, C={budget:g}"


def fit_line(optima: dict[float, tuple[float, float]], which: int) -> tuple[float, float]:
    """The power law through optima {compute: (params, loss)} of params (which=0) or loss (which=1): least-squares
    slope and intercept of its log10 against log10(compute); nan under two points."""
    xs, ys = [math.log10(c) for c in optima], [math.log10(found[which]) for found in optima.values()]
    mx, my = sum(xs) / max(len(xs), 1), sum(ys) / max(len(ys), 1)
    spread = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread if spread else float("nan")
    return slope, my - slope * mx


def isoflop_optimum(rows: list[dict]) -> tuple[float, float]:
    """Approach 2 at one budget: a parabola of validation loss in log10(params) through the sizes; its minimum
    (params, loss), or the best size where the parabola opens downward or its minimum lies outside the sizes."""
    import numpy as np

    sizes = [(row["metrics"]["params"], row["metrics"]["val/loss"]) for row in rows if "val/loss" in row["metrics"]]
    logs, losses = np.log10([n for n, _ in sizes]), np.array([loss for _, loss in sizes])
    a, b, c = np.polyfit(logs, losses, 2)
    best = int(np.argmin(losses))
    if a <= 0 or not logs.min() <= -b / (2 * a) <= logs.max():
        return float(10 ** logs[best]), float(losses[best])
    return float(10 ** (-b / (2 * a))), float(c - b * b / (4 * a))


def training_curve(rows: list[dict]) -> tuple[list[float], list[float]]:
    """A run's training loss (mean over seeds) against the training FLOPs at each logged step."""
    steps, loss, _, _ = curve(rows, "train/loss")
    return [step * mean(rows, "flops_per_step") for step in steps], loss


def envelope(groups: dict[str, list[dict]]) -> dict[float, tuple[float, float]]:
    """Approach 1: at computes a quarter-decade apart, the (params, loss) of the run whose training curve is lowest
    there (each curve's last logged loss within that compute; runs that ended before it say nothing there)."""
    low, high = BUDGETS[0] / 10, BUDGETS[-1]
    computes = [low * 10 ** (k / 4) for k in range(round(4 * math.log10(high / low)) + 1)]
    found = {}
    for compute in computes:
        at = []
        for group in groups.values():
            flops, loss = training_curve(group)
            reached = [value for x, value in zip(flops, loss) if x <= compute]
            if reached and flops[-1] >= 0.99 * compute:
                at.append((reached[-1], mean(group, "params")))
        if at:
            loss, params = min(at)
            found[compute] = (params, loss)
    return found


def analysis(rows: list[dict]) -> dict:
    """Both approaches' optima and the fitted exponents of N_opt ~ C^a and L_opt ~ C^-alpha."""
    groups = by_point(rows)
    per_budget = {b: [row for w in WIDTHS for row in groups.get(label(w, b), [])] for b in BUDGETS}
    isoflop = {b: isoflop_optimum(found) for b, found in per_budget.items() if len(found) >= 3}
    approach1 = envelope(groups)
    a1, a2, alpha = fit_line(approach1, 0)[0], fit_line(isoflop, 0)[0], -fit_line(isoflop, 1)[0]
    return {"isoflop": isoflop, "approach1": approach1, "a1": a1, "a2": a2, "alpha": alpha}


def verdict(rows: list[dict]) -> tuple[bool, str]:
    found = analysis(rows)
    a1, a2, alpha = found["a1"], found["a2"], found["alpha"]
    optima = ", ".join(f"{n / 1e3:.0f}k params at {c:g}" for c, (n, _) in found["isoflop"].items())
    papers = "; ".join(f"{paper} {a:.2f}" for paper, a in PAPERS.items())
    sizes = [row["metrics"]["params"] for row in rows if "params" in row["metrics"]]
    edges = [f"{c:g}" for c, (n, _) in found["isoflop"].items() if n <= min(sizes) or n >= max(sizes)]
    caveat = f"; at {', '.join(edges)} the minimum is an end of the sizes tried, a bound" if edges else ""
    held = a1 > 0 and a2 > 0 and alpha > 0  # nan compares False
    return held, (
        f"compute-optimal size N_opt ~ C^a: a = {a1:.2f} (Approach 1, the training curves' envelope), {a2:.2f} "
        f"(Approach 2, IsoFLOP minima: {optima}{caveat}); the papers: {papers}. Loss at the optimum ~ "
        f"C^{-alpha:.3f} (Kaplan et al.'s L(C_min): C^-0.050)"
    )


def draw(rows: list[dict], figure) -> None:
    """Chinchilla's Fig. 2 and 3 redrawn: the training curves with their envelope, the IsoFLOP profiles with
    their minima, and the optimal size against compute with both approaches' power laws."""
    groups, found = by_point(rows), analysis(rows)
    curves, profiles, optimal = figure.subplots(1, 3)
    colours = dict(zip(WIDTHS, ("C0", "C1", "C2", "C3", "C4")))
    for width in WIDTHS:
        for budget in BUDGETS:
            if label(width, budget) in groups:
                shown = f"d{width}" if budget == BUDGETS[0] else None
                curves.plot(*training_curve(groups[label(width, budget)]), color=colours[width], lw=0.8, label=shown)
    if found["approach1"]:
        computes = list(found["approach1"])
        curves.plot(computes, [loss for _, loss in found["approach1"].values()], "k--", label="envelope")
    curves.set(xscale="log", xlabel="training FLOPs", ylabel="training loss (nats a character)", title="Approach 1")
    for budget in BUDGETS:
        points = sorted(
            (mean(groups[label(w, budget)], "params"), mean(groups[label(w, budget)], "val/loss"))
            for w in WIDTHS
            if label(w, budget) in groups
        )
        line = profiles.plot(*zip(*points), marker="o", label=f"C={budget:g}")[0] if points else None
        if budget in found["isoflop"] and line:
            profiles.plot(*found["isoflop"][budget], marker="*", ms=14, color=line.get_color())
    profiles.set(xscale="log", xlabel="parameters", ylabel="validation loss", title="Approach 2 (IsoFLOP)")
    profiles.tick_params(axis="x", which="minor", labelbottom=False)  # the 2-9 x 10^k labels overlap
    for name, optima in (("Approach 1", found["approach1"]), ("Approach 2", found["isoflop"])):
        slope, intercept = fit_line(optima, 0)
        if optima:
            line = optimal.plot(list(optima), [n for n, _ in optima.values()], marker="o", ls="")[0]
            fitted = [10 ** (intercept + slope * math.log10(c)) for c in optima]
            optimal.plot(list(optima), fitted, color=line.get_color(), label=f"{name}: N_opt ~ C^{slope:.2f}")
    optimal.set(xscale="log", yscale="log", xlabel="training FLOPs", ylabel="compute-optimal parameters")
    for axes in (curves, profiles, optimal):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7)


CLAIM = register(
    Claim(
        name="scaling_laws",
        paper="Kaplan et al. 2020, Fig. 1 and 14; Hoffmann et al. 2022 (Chinchilla), Approaches 1 and 2",
        statement="loss falls as a power law of compute, and the compute-optimal model grows as a power of it",
        budget_min=10,
        base=(
            "model=gpt",
            "model.n_layer=3",
            "trainer.steps=null",
            "trainer.log_every=10",
            "trainer.eval_every=0",
        ),
        points={
            label(width, budget): (
                f"model.n_embd={width}",
                f"model.n_head={width // 16}",
                f"trainer.flop_budget={budget:g}",
            )
            for budget in BUDGETS
            for width in WIDTHS
        },
        quick=(
            "trainer.flop_budget=null",
            "trainer.steps=2",
            "trainer.log_every=1",
            "data.val_fraction=0.01",
            "data.val_windows=4",
            "data.sample_length=4",
        ),
        verdict=verdict,
        draw=draw,
        columns={
            "params": "params",
            "val loss": "val/loss",
            "training FLOPs a sample": "flops_per_sample",
            "steps": "step",
        },
        curves=("train/loss",),
        seeds=1,
        differs="GPTs of 42k to 0.6M parameters on 1M characters (tiny Shakespeare), not 768 to 10^10 on 10^10 "
        "tokens; compute budgets of 5e11 to 5e12 FLOPs, not 1e18 to 1e21; one seed, one learning rate for every size",
    )
)
