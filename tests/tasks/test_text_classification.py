"""Text classification, BERT's fine-tuning: labelled TSV files read with clear errors, pairs cut longest-first,
macro-F1 by its definition, the speaker-attribution corpus held out of pretraining, and model.init_from starting
from a masked-LM run's encoder and vocabulary (with a fresh head, resumable, refused on a mismatch)."""

import json
from pathlib import Path

import pytest
import torch
from landmarks.models import create_model
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from landmarks import load_run
from landmarks.build import build_model, build_task, copy_pretrained
from landmarks.config import validate
from landmarks.datasets import TextError
from landmarks.engine.checkpoint import CheckpointError
from landmarks.export import Pretrained
from landmarks.schema import ConfigError
from landmarks.tasks.confusion import confusion_counts, macro_f1
from landmarks.tasks.masked_language_modeling.datasets import DATASETS as CORPORA
from landmarks.tasks.pieces import Pieces
from landmarks.tasks.text_classification.data import encode_splits, few, sequence
from landmarks.tasks.text_classification.datasets import DATASETS, Labelled
from landmarks.tasks.text_classification.datasets.tsv import read_labelled
from landmarks.tasks.text_classification.task import pretrained_pieces
from tests.conftest import compose_config, without_evaluation, write_labelled, write_text
from train import resumed_config, run

QUICK = ["trainer.batch_size=8", "trainer.eval_every=0", "trainer.progress=false", "model.dropout=0.0"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A masked-LM run of four steps on a small corpus: its run dir."""
    root = tmp_path_factory.mktemp("pretraining")
    corpus = write_text(root / "corpus.txt")
    data = ["data=text_mlm", f"data.path={corpus}", "data.vocab_size=300", "data.block_size=32"]
    run(compose_config("model=bert", *data, *QUICK, "trainer.max_steps=4"), root / "run")
    return root / "run"


def fine_tuning(pretrained: Path, labelled: Path, *extra: str):
    data = [
        "data=labelled_text",
        f"data.path={labelled}",
        "data.block_size=24",
        "data.val_fraction=0.2",
        "trainer.log_every=1",
    ]
    return compose_config("model=bert", *data, f"model.init_from={pretrained}", *QUICK, *extra)


def test_fine_tuning_starts_from_the_pretrained_encoder_with_a_fresh_head(pretrained, tmp_path, capsys):
    cfg = fine_tuning(
        pretrained, write_labelled(tmp_path / "labelled.tsv"), "trainer.max_steps=3", "trainer.eval_every=3"
    )
    run_config = validate(cfg)
    task = build_task(run_config, "cpu")
    model = build_model(run_config, task, torch.device("cpu"))
    source = load_run(pretrained).model.state_dict()
    ours = model.state_dict()
    assert {name for name in ours if name not in source} == {
        "pooler.weight",
        "pooler.bias",
        "classifier.1.weight",
        "classifier.1.bias",
    }
    for name in set(ours) & set(source):
        assert torch.equal(ours[name], source[name]), name
    assert task.data.pieces.model == load_run(pretrained).predictor.pieces.model  # the pretraining vocabulary

    results = run(cfg, tmp_path / "fine")
    assert "weights from model.init_from" in capsys.readouterr().out
    assert set(results) >= {"test/acc", "test/f1", "val/f1"}
    fine = load_run(tmp_path / "fine")
    assert set(fine.classify_text(["the red ship number 7 sails", "the blue ship"])) <= {"cold", "warm"}
    assert "init_from" not in json.loads((tmp_path / "fine" / "model.json").read_text())["model"]
    events = EventAccumulator(str(tmp_path / "fine"), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    assert "test/confusion_matrix" in events.Tags()["images"]
    assert "samples/classified/text_summary" in events.Tags()["tensors"]
    assert OmegaConf.load(tmp_path / "fine" / "config.yaml").model.init_from == str(pretrained)


def test_a_resumed_fine_tuning_reads_the_pretrained_run_again_and_trains_as_the_whole_run(pretrained, tmp_path):
    labelled = write_labelled(tmp_path / "labelled.tsv")
    straight = run(fine_tuning(pretrained, labelled, "trainer.steps=6"), tmp_path / "straight")
    run(fine_tuning(pretrained, labelled, "trainer.max_steps=3", "trainer.steps=6"), tmp_path / "cut")
    cfg, run_dir, state = resumed_config(
        fine_tuning(pretrained, labelled, f"trainer.resume={tmp_path / 'cut'}"), ["trainer.max_steps=6"]
    )
    resumed = run(cfg, run_dir, state)
    assert resumed["history"] == [entry for entry in straight["history"] if entry[0] > 3]
    assert resumed["test/acc"] == straight["test/acc"]


def test_the_loss_falls_from_scratch(tmp_path, monkeypatch):
    data = ["data=labelled_text", f"data.path={write_labelled(tmp_path / 'l.tsv')}", "data.vocab_size=300"]
    cfg = compose_config("model=bert", *data, *QUICK, "trainer.steps=40", "trainer.log_every=1", "optim.lr=3e-3")
    without_evaluation(monkeypatch, cfg)
    history = [loss for _, loss in run(cfg, tmp_path / "run")["history"]]
    assert sum(history[-5:]) / 5 < 0.5 * sum(history[:5]) / 5


def test_300_labelled_lines_train_for_the_generic_floor_and_say_so(tmp_path, capsys):
    """The generic 10 epochs of one batch of 128 would be 10 steps: the floor makes them 100, in the opening line."""
    data = ["data=labelled_text", f"data.path={write_labelled(tmp_path / 'l.tsv', 300)}", "data.vocab_size=300"]
    run(compose_config("model=bert", *data, "trainer.max_steps=1", "trainer.progress=false"), tmp_path / "run")
    opening = capsys.readouterr().out.splitlines()[1]
    assert "100 steps: 100 epochs of 1 batches (trainer.epochs=10 -> trainer.steps_floor), stop at 1" in opening


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.name=bert_mini", "trained model.name=bert_tiny, not bert_mini: set model.name=bert_tiny"),
        ("data.block_size=64", "data.block_size=64 exceeds the 32 positions model.init_from=.* set data.block_size=32"),
    ],
)
def test_init_from_refuses_another_model_or_more_positions(pretrained, tmp_path, override, message):
    cfg = validate(fine_tuning(pretrained, write_labelled(tmp_path / "l.tsv"), override))
    with pytest.raises(ValueError, match=message):
        build_model(cfg, build_task(cfg, "cpu"), torch.device("cpu"))


def test_weights_of_another_shape_name_the_tensor_and_the_fix(tmp_path):
    source = Pretrained(tmp_path, create_model("bert_tiny", vocab_size=300, max_position=32), {}, "m", {})
    with pytest.raises(ValueError, match=r"embeddings.token.weight is \(300, 128\) there and \(400, 128\) here"):
        copy_pretrained(create_model("bert_tiny", vocab_size=400, max_position=32, num_labels=2), source)


def test_init_from_refuses_a_run_of_another_task_a_missing_dir_and_a_task_without_fine_tuning(pretrained, tmp_path):
    gpt_run = Pretrained(tmp_path, torch.nn.Linear(1, 1), {"name": "gpt_tiny"}, "language_modeling", {"chars": "ab"})
    with pytest.raises(TextError, match="is a language_modeling run; fine-tuning starts from a masked_language_model"):
        pretrained_pieces(gpt_run, 32)
    with pytest.raises(CheckpointError, match=f"model.init_from={tmp_path / 'nothing'}: .* not found"):
        build_task(validate(fine_tuning(tmp_path / "nothing", write_labelled(tmp_path / "l.tsv"))), "cpu")
    with pytest.raises(ConfigError, match="language_modeling runs do not take; drop model.init_from"):
        validate(compose_config("model=gpt", f"+model.init_from={pretrained}"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("a line\tA\nno label here\n", r"l.tsv:2: expected 'text<TAB>label' as every line, got 'no label here'"),
        ("a\tb\tA\nc\tA\n", r"l.tsv:2: expected 'text_a<TAB>text_b<TAB>label' as every line"),
        ("a line\t\n", r"l.tsv:1: expected 'text<TAB>label' as every line, got 'a line\\t'"),
        ("just text\n", r"l.tsv:1: expected 'text<TAB>label' or 'text_a<TAB>text_b<TAB>label' as every line"),
        ("\n\n", "holds no examples"),
    ],
)
def test_a_malformed_labelled_file_names_its_line(tmp_path, text, message):
    (tmp_path / "l.tsv").write_text(text)
    with pytest.raises(TextError, match=message):
        read_labelled(tmp_path / "l.tsv")


def test_a_class_with_one_training_example_or_none_is_refused():
    two = [("a", None, "x"), ("b", None, "x")]
    with pytest.raises(TextError, match="class 'y' has a single training example"):
        encode_splits(Labelled([*two, ("c", None, "y")], two, two), None, 300, 16, "cpu")
    with pytest.raises(TextError, match="the test split has class 'z', which no training example has"):
        encode_splits(Labelled(two, two, [("c", None, "z")]), None, 300, 16, "cpu")


def test_few_labels_are_a_seeded_draw_spread_evenly_over_the_classes():
    train = [(f"text {i}", None, label) for i, label in enumerate("a" * 30 + "b" * 6 + "c" * 4)]
    drawn = few(train, 9, seed=0)
    counts = {label: sum(example[2] == label for example in drawn) for label in "abc"}
    assert counts == {"a": 3, "b": 3, "c": 3} and len(set(drawn)) == 9 and all(e in train for e in drawn)
    assert few(train, 9, seed=0) == drawn and few(train, 9, seed=1) != drawn and few(train, None, 0) == train
    assert sum(example[2] == "c" for example in few(train, 20, seed=0)) == 4  # a small class gives all it has
    for size in (5, 41):
        with pytest.raises(ValueError, match=f"data.train_size={size}: give at least 2 examples for each of the 3"):
            few(train, size, seed=0)


def test_integer_labels_are_ordered_as_numbers_and_a_pair_is_cut_longest_first():
    rows = [(f"text {i}", None, str(label)) for i, label in enumerate([10, 2, 10, 2, 9, 9])]
    assert encode_splits(Labelled(rows, rows, rows), None, 300, 16, "cpu").classes == ["2", "9", "10"]
    pieces = Pieces.train("one two three four five six seven eight nine ten\n" * 20, 300)
    tokens, segments = sequence(pieces, "one two three four five six seven eight", "ten", 9)
    first, second = pieces.encode("one two three four five six seven eight"), pieces.encode("ten")
    a = 9 - 3 - len(second)  # the second, shorter text is whole; the first lost its tail
    assert tokens == [pieces.cls, *first[:a], pieces.sep, *second, pieces.sep]
    assert segments == [0] * (a + 2) + [1] * (len(second) + 1)


def test_macro_f1_is_the_mean_of_each_class_f1():
    labels, guesses = torch.tensor([0, 0, 1, 1, 2, 3]), torch.tensor([0, 1, 1, 1, 0, 3])
    # class 0: 2*1 / (2*1 + 1 + 1); class 1: 2*2 / (2*2 + 1 + 0); class 2: 0 (missed); class 3: 1
    assert macro_f1(confusion_counts(labels, guesses, 5)) == pytest.approx((0.5 + 0.8 + 0.0 + 1.0) / 4)


def test_the_speakers_lines_come_from_speeches_the_masked_lm_never_trains_on():
    cfg = OmegaConf.create({"name": "s", "source": "shakespeare_speakers", "speakers": 10, "passage_lines": 1})
    labelled = DATASETS["shakespeare_speakers"](cfg)
    train_text, val_text, test_text = CORPORA["shakespeare"](None)
    held_out_lines, train_lines = set(f"{val_text}\n{test_text}".splitlines()), set(train_text.splitlines())
    tested = [text for text, _, _ in labelled.val + labelled.test]
    assert len({label for *_, label in labelled.train}) == 10 and len(labelled.test) > 500
    assert all(line in held_out_lines for line in tested)
    assert sum(line not in train_lines for line in tested) > 0.9 * len(tested)  # all but repeated lines ("Ay.")
