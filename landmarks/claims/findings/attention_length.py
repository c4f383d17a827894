"""Bahdanau et al. 2014, "Neural Machine Translation by Jointly Learning to Align and Translate", Fig. 2: the
encoder-decoder that squeezes a sentence into one fixed-length vector (RNNencdec, Cho et al. 2014) loses BLEU as
sentences grow longer; with attention (RNNsearch) the decoder reads every annotation and holds its BLEU. Both
networks at seq2seq_tiny's sizes (models/seq2seq.py, attention="none" for RNNencdec), trained by the same recipe
on the generated language with up to 8 prepositional phrases (5 to about 50 words), BLEU by source length on
the test pairs."""

from pathlib import Path

from landmarks.claims.claim import Claim, register
from landmarks.claims.table import by_point, mean, plot_points, values

BUCKETS = ((5, 15), (15, 25), (25, 35), (35, 60))  # source words, [low, high)


def key(low: int, high: int) -> str:
    return f"bleu@{low}-{high}"


def bleu_by_length(run_dir: Path) -> dict:
    """Corpus BLEU of the test translations (decoded as the run's test was) in each source-length bucket."""
    from sacrebleu.metrics import BLEU

    from landmarks.runs import load_run

    trained = load_run(run_dir)
    task = trained.task()
    hypotheses, pairs = task.decode(trained.model, "test"), task.data.test.pairs
    scores = {}
    for low, high in BUCKETS:
        chosen = [i for i, (source, _) in enumerate(pairs) if low <= len(source.split()) < high]
        if chosen:
            scored = BLEU().corpus_score([hypotheses[i] for i in chosen], [[pairs[i][1] for i in chosen]])
            scores[key(low, high)] = scored.score
    return scores


def verdict(rows: list[dict]) -> tuple[bool, str]:
    groups = by_point(rows)
    bleu = {point: [mean(groups[point], key(*bucket)) for bucket in BUCKETS] for point in groups}
    drop = {point: scores[0] - scores[-1] for point, scores in bleu.items()}
    holds = drop["RNNencdec"] > drop["RNNsearch"] and bleu["RNNsearch"][-1] > bleu["RNNencdec"][-1]
    shown = "; ".join(f"{point} " + ", ".join(f"{score:.1f}" for score in scores) for point, scores in bleu.items())
    return holds, (
        f"BLEU by source length ({', '.join(f'{low}-{high - 1}' for low, high in BUCKETS)} words): {shown}; "
        f"from the shortest to the longest RNNencdec loses {drop['RNNencdec']:.1f}, RNNsearch {drop['RNNsearch']:.1f}"
    )


def draw(rows: list[dict], figure) -> None:
    """Fig. 2 redrawn: BLEU against source length, a line per model, the seeds' range as bars."""
    groups = by_point(rows)
    axes = figure.subplots()
    middles = [(low + high - 1) / 2 for low, high in BUCKETS]
    for point, group in groups.items():
        plot_points(axes, middles, [values(group, key(*bucket)) for bucket in BUCKETS], point)
    axes.set_xticks(middles, [f"{low}-{high - 1}" for low, high in BUCKETS])
    axes.set(xlabel="source sentence length (words)", ylabel="test BLEU", ylim=(0, 105))
    axes.grid(alpha=0.3)
    axes.legend()


CLAIM = register(
    Claim(
        name="attention_length",
        paper="Bahdanau et al. 2014, Fig. 2",
        statement="without attention BLEU falls as sentences grow longer; with attention it holds",
        budget_min=10,
        base=("model=seq2seq", "data.max_phrases=8"),
        points={"RNNsearch": ("model.attention=bahdanau",), "RNNencdec": ("model.attention=none",)},
        quick=(
            "trainer.steps=2",
            "trainer.log_every=1",
            "trainer.eval_every=1",
            "trainer.batch_size=16",
            "data.train_size=200",
            "data.val_size=8",
            "data.test_size=40",
        ),
        verdict=verdict,
        draw=draw,
        columns={"BLEU": "test/bleu", **{f"BLEU {low}-{high - 1} words": key(low, high) for low, high in BUCKETS}},
        curves=("train/loss", "val/bleu"),
        measure=bleu_by_length,
        differs="a generated language of 5-50 words, not WMT'14 English-French of up to 80; n=128, not 1000 "
        "hidden units; the recipe's 3 epochs of 20,000 pairs, not 5 days of training",
    )
)
