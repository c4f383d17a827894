"""Vaswani et al. 2017, "Attention Is All You Need", Table 2: the Transformer reaches a better BLEU than the recurrent
models at a fraction of their training cost (base: 27.3 BLEU en-de at 3.3e18 FLOPs; GNMT+RL 24.6 at 2.3e19). Here
transformer_tiny and RNNsearch (seq2seq_tiny), each with its recipe for a real TSV corpus, trained for the same
seconds on the gettext catalogs' English-German pairs (scripts/gettext_pairs.py), validation BLEU against the
training FLOPs the loop counts and against the seconds of training."""

from landmarks.claims.claim import Claim, register
from landmarks.claims.table import by_point, curve, mean

SECONDS, CORPUS = 180, "data/gettext-en-de.tsv"


def bleu_against(rows: list[dict], per_step: str) -> tuple[list[float], list[float]]:
    """Validation BLEU (mean over seeds) against the step's cost: `per_step` is flops_per_step or s_per_step."""
    steps, bleu, _, _ = curve(rows, "val/bleu")
    return [step * mean(rows, per_step) for step in steps], bleu


def cost_to_reach(rows: list[dict], level: float, per_step: str) -> float | None:
    """The cost at the first validation pass whose mean BLEU reached `level`; None if none did."""
    costs, bleu = bleu_against(rows, per_step)
    return next((c for c, b in zip(costs, bleu) if b >= level), None)


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    transformer, rnn = groups["Transformer"], groups["RNNsearch"]
    bleu = {point: mean(group, "test/bleu") for point, group in groups.items()}
    level = max(bleu_against(rnn, "flops_per_step")[1], default=float("nan"))  # RNNsearch's best validation BLEU
    flops, seconds = (cost_to_reach(transformer, level, key) for key in ("flops_per_step", "s_per_step"))
    scores = f"test BLEU Transformer {bleu['Transformer']:.2f}, RNNsearch {bleu['RNNsearch']:.2f} after {SECONDS} s"
    if flops is None:
        return False, f"{scores}; the Transformer never reached RNNsearch's best validation BLEU ({level:.2f})"
    share = flops / mean(rnn, "train_flops")
    return bleu["Transformer"] > bleu["RNNsearch"] and share < 1, (
        f"{scores}; the Transformer reached RNNsearch's best validation BLEU ({level:.2f}) at {flops:.3g} FLOPs "
        f"and {seconds:.0f} s of training, {share:.0%} of RNNsearch's {mean(rnn, 'train_flops'):.3g} FLOPs"
    )


def draw(rows: list[dict], figure) -> None:
    """Table 2 as curves: validation BLEU against training FLOPs and against seconds, a line per model."""
    groups = by_point(rows)
    by_flops, by_time = figure.subplots(1, 2, sharey=True)
    for point, group in groups.items():
        by_flops.plot(*bleu_against(group, "flops_per_step"), marker="o", label=point)
        by_time.plot(*bleu_against(group, "s_per_step"), marker="o", label=point)
    by_flops.set(xscale="log", xlabel="training FLOPs", ylabel="validation BLEU (greedy)")
    by_flops.tick_params(axis="x", which="minor", labelbottom=False)  # the 2-9 x 10^k labels overlap
    by_time.set(xlabel="seconds of training (2 CPU cores)")
    for axes in (by_flops, by_time):
        axes.grid(alpha=0.3)
        axes.legend()


CLAIM = register(
    Claim(
        name="transformer_cost",
        paper="Vaswani et al. 2017, Table 2",
        statement="the Transformer reaches a better BLEU than a recurrent model at a fraction of its training cost",
        budget_min=14,
        base=(
            "data=tsv",
            f"data.path={CORPUS}",
            f"trainer.time_budget={SECONDS}",
            "trainer.time_cap=null",
            "trainer.early_stopping=null",
            "trainer.eval_every=150",
        ),
        points={"Transformer": ("model=transformer",), "RNNsearch": ("model=seq2seq",)},
        quick=(
            "trainer.time_budget=null",
            "trainer.steps=2",
            "trainer.batch_size=16",
            "trainer.log_every=1",
            "trainer.eval_every=1",
            "data.val_size=8",
            "data.test_size=8",
            "data.min_freq=1",
        ),
        verdict=verdict,
        draw=draw,
        columns={"test BLEU": "test/bleu", "training FLOPs": "train_flops", "steps": "step"},
        curves=("train/loss", "val/bleu"),
        seeds=2,
        needs={CORPUS: f"python scripts/gettext_pairs.py --language de --out {CORPUS}"},
        differs="43,000 gettext message pairs of 4 words on average, not WMT'14's 4.5M sentence pairs; models of "
        f"about 1M parameters for {SECONDS} s on 2 CPU cores each, not 12 hours on 8 P100s; BLEU of one run a seed",
    )
)
