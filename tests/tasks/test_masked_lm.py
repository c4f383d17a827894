"""Masked language modelling (BERT's pre-training): the masking's proportions and determinism, whole words, a
vocabulary of the training split alone, and a run end to end to fill_mask."""

import pytest
import torch
from landmarks.models import create_model
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from landmarks import load_run
from landmarks.datasets import TextError
from landmarks.tasks.masked_language_modeling.data import IGNORE, load_packed_text, mask_tokens
from landmarks.tasks.masked_language_modeling.datasets import DATASETS as CORPORA
from landmarks.tasks.masked_language_modeling.datasets import MaskedTextConfig
from landmarks.tasks.masked_language_modeling.datasets.text import MaskedTextFileConfig
from landmarks.tasks.masked_language_modeling.task import MaskedLanguageModeling
from landmarks.tasks.pieces import Pieces
from tests.conftest import compose_config, write_text
from train import run

TEXT = "".join(f"The {('red', 'blue', 'old')[i % 3]} ship number {i % 17} sails at dawn.\n" for i in range(400))


@pytest.fixture(scope="module")
def pieces() -> Pieces:
    return Pieces.train(TEXT, 400)


def windows(pieces: Pieces, count: int = 64) -> torch.Tensor:
    from landmarks.tasks.masked_language_modeling.data import pack

    return pack(pieces, TEXT, 32, "train")[:count]


def test_masking_chooses_15_percent_and_replaces_80_10_10(pieces):
    ids = windows(pieces).repeat(40, 1)  # 2,560 windows: the shares within a percent
    inputs, labels = mask_tokens(ids, pieces, MaskedTextConfig(), torch.Generator().manual_seed(0))
    chosen = labels != IGNORE
    special = (ids == pieces.cls) | (ids == pieces.sep)
    assert not (chosen & special).any() and torch.equal(labels[chosen], ids[chosen])
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    masked, kept = (inputs[chosen] == pieces.mask).float().mean(), (inputs[chosen] == ids[chosen]).float().mean()
    assert abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.015  # random tokens: the rest (a few equal the truth)
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_masking_is_a_function_of_the_seed_and_step(pieces):
    ids = windows(pieces)
    draw = lambda seed: mask_tokens(ids, pieces, MaskedTextConfig(), torch.Generator().manual_seed(seed))  # noqa: E731
    assert all(torch.equal(a, b) for a, b in zip(draw(5), draw(5)))
    assert not torch.equal(draw(5)[1], draw(6)[1])


def test_whole_word_masking_chooses_every_piece_of_a_word_or_none(pieces):
    ids = windows(pieces)
    cfg = MaskedTextConfig(whole_word=True, mask_prob=0.3)
    _, labels = mask_tokens(ids, pieces, cfg, torch.Generator().manual_seed(0))
    chosen, starts = labels != IGNORE, pieces.word_start[ids]
    continuing = ~starts & (ids != pieces.cls) & (ids != pieces.sep)
    assert continuing.any() and chosen.any()
    previous = torch.cat([torch.zeros_like(chosen[:, :1]), chosen[:, :-1]], dim=1)
    assert torch.equal(chosen[continuing], previous[continuing])  # a word's later pieces follow its first


def test_the_vocabulary_is_trained_on_the_training_split_alone(tmp_path):
    path = write_text(tmp_path / "corpus.txt")
    path.write_text(path.read_text() + "ǂ ǂ ǂ ǂ ǂ ǂ ǂ ǂ\n" * 40)  # a character of the validation part alone
    data = load_packed_text(MaskedTextFileConfig(source="text", path=str(path), vocab_size=400, block_size=32), "cpu")
    assert data.pieces.processor.piece_to_id("ǂ") == 1  # unknown: spelt in bytes
    assert data.train.shape[1] == 32 and (data.train[:, 0] == data.pieces.cls).all()


def test_the_test_split_is_held_out_text_apart_from_validation():
    train, val, test = CORPORA["shakespeare"](None)
    speeches = [set(part.split("\n\n")) for part in (train, val, test)]
    assert min(len(val), len(test)) > 0.08 * len(train)  # every fifth speech, alternately validating and testing
    shared = len(speeches[1] & speeches[2]) + len(speeches[0] & speeches[2])
    assert shared < 0.02 * len(speeches[2])  # the speeches said twice (a bare "CLARENCE:", say)


def test_a_micro_batch_with_no_token_chosen_gives_a_finite_loss_that_weighs_nothing(tmp_path):
    cfg = MaskedTextFileConfig(
        source="text", path=str(write_text(tmp_path / "corpus.txt")), vocab_size=400, block_size=32
    )
    data = load_packed_text(cfg, "cpu")
    task = MaskedLanguageModeling(data, cfg, batch_size=8, seed=0)
    model = create_model("bert_tiny", vocab_size=len(data.pieces), max_position=32).eval()  # no dropout
    inputs, labels = task.train_batch(0)
    nothing = torch.full_like(labels, IGNORE)
    loss, metrics = task.loss(model, (inputs, nothing))
    assert loss.item() == 0 and metrics["acc"].item() == 0 and task.loss_weight((inputs, nothing)).item() == 0
    loss.backward()  # a gradient of zeros, not NaN
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    chosen = labels != IGNORE
    expected = torch.nn.functional.cross_entropy(model(inputs)[chosen], labels[chosen])
    torch.testing.assert_close(task.loss(model, (inputs, labels))[0], expected)  # the mean over the chosen tokens


def test_guesses_are_words_and_samples_start_at_a_word(tmp_path):
    path = write_text(tmp_path / "corpus.txt")
    cfg = MaskedTextFileConfig(source="text", path=str(path), vocab_size=400, block_size=32)
    task = MaskedLanguageModeling(load_packed_text(cfg, "cpu"), cfg, batch_size=8, seed=0)
    pieces = task.data.pieces
    logits = torch.zeros(2, len(pieces))
    logits[:, : pieces.first_normal] = 10.0  # the specials likeliest of all: [MASK] itself, [CLS], [SEP], ...
    logits[:, pieces.first_normal + 5] = 1.0
    guesses = pieces.top_guesses(logits, 3)
    assert (guesses >= pieces.first_normal).all() and (guesses[:, 0] == pieces.first_normal + 5).all()
    window, inside = task.data.val[0], int((~pieces.word_start).nonzero()[-1])  # a piece that continues a word
    assert pieces.word_start[window[1]]
    cut = torch.cat([window[:1], torch.tensor([inside, inside]), window[1:-3], window[-1:]])  # begins mid-word
    sample = task.from_a_word(cut, 20)
    assert sample[0] == pieces.cls and torch.equal(sample[1:], cut[3:23])


def test_the_baseline_guesses_the_commonest_training_piece_at_every_mask(tmp_path):
    cfg = MaskedTextFileConfig(
        source="text", path=str(write_text(tmp_path / "c.txt", 300)), vocab_size=400, block_size=32
    )
    task = MaskedLanguageModeling(load_packed_text(cfg, "cpu"), cfg, batch_size=8, seed=0)
    commonest = task.data.train[:, 1:-1].flatten().bincount().argmax()  # between [CLS] and [SEP]
    _, labels = task.masked(task.data.val, 0)  # the validation split's fixed draw
    chosen = labels[labels != IGNORE]
    model = create_model("bert_tiny", vocab_size=len(task.data.pieces), max_position=32)
    assert task.evaluate(model)["most_frequent_acc"] == pytest.approx((chosen == commonest).float().mean().item())


def test_a_text_too_short_for_a_window_names_the_fix(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("Just a few words here.\n" * 30)
    with pytest.raises(TextError, match="fewer than data.block_size - 2 = 510; use more text or a smaller"):
        load_packed_text(MaskedTextFileConfig(source="text", path=str(path), vocab_size=400, block_size=512), "cpu")


def test_bert_pretrains_on_any_text_and_fills_masks(tmp_path):
    path = write_text(tmp_path / "corpus.txt", sentences=1200)
    overrides = ["model=bert", "data=text_mlm", f"data.path={path}", "data.vocab_size=400", "data.block_size=32"]
    overrides += ["data.val_sequences=32", "trainer.batch_size=32", "trainer.steps=40", "trainer.log_every=5"]
    overrides += ["trainer.eval_every=20"]
    results = run(compose_config(*overrides, "trainer.progress=false", "optim.lr=3e-3"), tmp_path / "run")
    losses = [loss for _, loss in results["history"]]
    assert losses[-1] < 0.7 * losses[0], losses
    assert results["val/acc"] > 0.2  # the repeated sentences are easy to fill in
    assert 0 < results["val/most_frequent_acc"] < results["val/acc"]  # above the baseline of the commonest piece
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"tensors": 0})
    events.Reload()
    text = events.Tensors("samples/fill_in_the_blank/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert "[MASK]" in text and "(truth: " in text
    guesses = load_run(tmp_path / "run").fill_mask("The red ship [MASK] at dawn.")
    assert len(guesses) == 1 and len(guesses[0]) == 3


def test_a_vocabulary_too_small_for_the_text_names_the_fix():
    with pytest.raises(TextError, match=r"data.vocab_size=100 is below the \d+ pieces this text needs"):
        Pieces.train(TEXT, 100)
