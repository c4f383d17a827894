"""Devlin et al. 2018, "BERT" (Sec. 5: pre-training is what lets a small labelled set fine-tune well), in the
label-efficiency form of Howard and Ruder 2018, "Universal Language Model Fine-tuning" (Fig. 3: with 100 labelled
examples, fine-tuning a pre-trained model matches training from scratch on 10-20 times more). bert_tiny pre-trained
once as `python train.py model=bert` does (masked LM on tiny Shakespeare), then fine-tuned to name the speaker of
held-out passages (10 speakers) from a seeded draw of 50 to all 1,926 labelled passages, against the same network
trained from scratch on the same draw; the same steps for every size, the best validation pass kept."""

from landmarks.claims.claim import Before, Claim, register
from landmarks.claims.table import by_point, mean, plot_curve, plot_points, values

SIZES, STEPS = (50, 200, 1000, None), 300  # labelled passages (None: all)
STARTS = {"pre-trained": ("model.init_from={mlm}",), "from scratch": ()}


def label(start: str, size: int | None) -> str:
    return f"{start}, {size or 'all'}"


def accuracy(groups: dict[str, list[dict]], start: str) -> list[float]:
    return [mean(groups[label(start, size)], "test/acc") for size in SIZES]


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    pretrained, scratch = accuracy(groups, "pre-trained"), accuracy(groups, "from scratch")
    gains = [p - s for p, s in zip(pretrained, scratch)]
    mlm = groups["mlm"][0]["metrics"]
    shown = ", ".join(f"{size or 'all'} {p:.1%} vs {s:.1%}" for size, p, s in zip(SIZES, pretrained, scratch))
    matched = next((size or "all" for size, s in zip(SIZES, scratch) if s >= pretrained[0]), None)
    matching = (
        f"from scratch matches pre-trained on {SIZES[0]} labels at {matched}"
        if matched
        else f"from scratch stays below pre-trained on {SIZES[0]} labels at every size"
    )
    return all(gain > 0 for gain in gains), (
        f"test accuracy pre-trained vs from scratch by labelled passages: {shown}; {matching}. The masked LM: "
        f"{mlm.get('test/acc', float('nan')):.1%} masked-token accuracy (its most-frequent-piece baseline "
        f"{mlm.get('test/most_frequent_acc', float('nan')):.1%})"
    )


def draw(rows: list[dict], figure) -> None:
    """The masked LM's validation accuracy against steps beside its baseline; Howard and Ruder's Fig. 3 redrawn:
    test accuracy against labelled examples, pre-trained and from scratch, the seeds' range as bars."""
    groups = by_point(rows)
    pretraining, fine_tuning = figure.subplots(1, 2)
    plot_curve(pretraining, groups["mlm"], "val/acc", "masked LM", marker="o")
    plot_curve(pretraining, groups["mlm"], "val/most_frequent_acc", "the commonest piece at every mask", ls="--")
    pretraining.set(xlabel="step", ylabel="validation masked-token accuracy", title="pre-training")
    counts = [mean(groups[label("from scratch", size)], "train_examples") for size in SIZES]
    for start in STARTS:
        plot_points(fine_tuning, counts, [values(groups[label(start, size)], "test/acc") for size in SIZES], start)
    fine_tuning.set(xscale="log", xlabel="labelled training passages", ylabel="test accuracy (10 speakers)")
    fine_tuning.set(title=f"fine-tuning, {STEPS} steps")
    for axes in (pretraining, fine_tuning):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)


def examples(run_dir) -> dict:
    """The labelled passages the run trained on (all: as many as the corpus has)."""
    from landmarks.runs import load_run

    return {"train_examples": len(load_run(run_dir).task().data.splits["train"].labels)}


CLAIM = register(
    Claim(
        name="bert_pretraining",
        paper="Devlin et al. 2018, Sec. 5; Howard and Ruder 2018, Fig. 3",
        statement="pre-training lets a model fine-tune well on few labels, where one trained from scratch needs many",
        budget_min=9,
        before={
            "mlm": Before(
                ("model=bert",),
                quick=("trainer.steps=2", "trainer.log_every=1", "trainer.eval_every=1", "data.val_sequences=8"),
            )
        },
        base=(
            "experiment=bert_finetune",
            "data.vocab_size=500",  # from scratch, the masked LM's 500 pieces: both starts split words alike
            f"trainer.steps={STEPS}",
            "trainer.eval_every=50",
            "trainer.log_every=25",
        ),
        points={
            label(start, size): (*overrides, f"data.train_size={size or 'null'}")
            for start, overrides in STARTS.items()
            for size in SIZES
        },
        quick=("trainer.steps=2", "trainer.log_every=1", "trainer.eval_every=1"),
        verdict=verdict,
        draw=draw,
        columns={"test acc": "test/acc", "test macro-F1": "test/f1", "labelled passages": "train_examples"},
        curves=("train/loss", "val/acc", "val/most_frequent_acc"),
        measure=examples,
        differs="a 2-layer BERT of 0.5M parameters pre-trained for minutes on 1M characters of Shakespeare, not "
        "BERT_BASE on 3.3B words; one downstream task of 10 speakers, not GLUE or IMDb; one pre-training for all seeds",
    )
)
