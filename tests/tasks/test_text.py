"""Translation data: the generated task, tokenizers, the TSV reader and its clean splits, Multi30k's download
path, length batches."""

import pytest
import torch
from landmarks.models import create_model
from omegaconf import OmegaConf

from landmarks import datasets
from landmarks.build import build_task
from landmarks.datasets import TextError
from landmarks.tasks.translation.data import length_grouped_batches, load_translation_data
from landmarks.tasks.translation.datasets import multi30k
from landmarks.tasks.translation.datasets.synthetic import generate_pairs
from landmarks.tasks.translation.datasets.tsv import read_tsv
from landmarks.tasks.translation.tokenizers import (
    EOS,
    PAD,
    UNK,
    Vocab,
    normalize,
    split_pieces,
    tokenizer_from_state,
    train_tokenizer,
)
from tests.conftest import CONFIGS, compose_config, write_tarball


def test_generated_task_is_deterministic_distinct_and_reorders():
    pairs = generate_pairs(300, seed=7)
    assert pairs == generate_pairs(300, seed=7) and pairs != generate_pairs(300, seed=8)
    assert len({source for source, _ in pairs}) == 300
    lengths = [len(source.split()) for source, _ in pairs]
    assert min(lengths) <= 6 and max(lengths) >= 14  # lengths vary
    for source, target in pairs:  # the tense, set by the first source word, surfaces near the target's end
        suffix = {"yesterday": "ta", "tomorrow": "u"}.get(source.split()[0], "ru")
        assert suffix in target.split()[-4:], (source, target)


def test_data_config_splits_are_fixed_and_disjoint():
    cfg = OmegaConf.load(f"{CONFIGS}/data/synthetic_translation.yaml")
    cfg.train_size, cfg.val_size, cfg.test_size = 400, 50, 50
    data = load_translation_data(cfg, torch.device("cpu"))
    sources = [{s for s, _ in split.pairs} for split in (data.train, data.val, data.test)]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    first = data.train.src[0, : data.train.src_lengths[0]].tolist()
    assert first[-1] == EOS and data.tokenizer.decode(first) == data.train.pairs[0][0]


def test_normalize_keeps_case_and_punctuation():
    assert normalize("  Hi,  Tom!\u00a0Ça va? ") == "Hi, Tom! Ça va?"


SENTENCES = ["Hi, Tom!", "Don't stop (now)...", "Übergröße: 3.5 €", "Das Fenster wird geschlossen.", "x"]


@pytest.mark.parametrize("level", ["subword", "word", "char"])
def test_tokenizers_give_back_the_text_cased_and_spaced(level):
    tokenizer = train_tokenizer(SENTENCES * 3, level, vocab_size=300)
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence)
        assert ids[-1] == EOS and UNK not in ids
        assert tokenizer.decode([1, *ids, 7, 8]) == sentence  # <bos> skipped, nothing after <eos>
    rebuilt = tokenizer_from_state(tokenizer.state())
    assert rebuilt.encode(SENTENCES[3]) == tokenizer.encode(SENTENCES[3]) and len(rebuilt) == len(tokenizer)


def test_subwords_spell_unseen_words_and_characters_without_unk():
    tokenizer = train_tokenizer(SENTENCES * 3, "subword", vocab_size=300)
    unseen = "Ein unbekanntes Wort: 你好"
    assert UNK not in tokenizer.encode(unseen) and tokenizer.decode(tokenizer.encode(unseen)) == unseen
    assert train_tokenizer(SENTENCES * 3, "subword", vocab_size=300).state() == tokenizer.state()  # deterministic


def test_word_pieces_mark_what_is_glued_to_the_previous_piece():
    assert split_pieces("Hi, Tom!", "word") == ["Hi", "￭,", "Tom", "￭!"]
    assert split_pieces("ab c", "char") == ["a", "b", " ", "c"]
    with pytest.raises(ValueError, match="tokenization level 'bpe'"):
        split_pieces("a", "bpe")


def test_vocab_orders_by_frequency_and_names_unknown_tokens():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab.itos[:7] == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a", "c"]
    assert vocab.encode(["a", "zebra"]) == [5, UNK, EOS]
    assert vocab.decode([1, 5, 4, EOS, 6]) == ["a", "b"]


def test_tsv_reader_takes_tatoeba_lines(tmp_path):
    path = tmp_path / "fra.txt"
    path.write_text(
        "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM)\n\nHi.\tSalut !\n", encoding="utf-8"
    )
    assert read_tsv(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"holds no sentence pairs"),
        ("\n  \n", r"holds no sentence pairs"),
        ("Go.\tVa !\nno tab here\n", r":2: expected 'source<TAB>target', got 'no tab here'"),
        ("Go.\t \n", r":1: expected 'source<TAB>target'"),
    ],
)
def test_tsv_reader_names_bad_files_and_lines(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextError, match=message):
        read_tsv(path)


def test_tsv_data_config_splits_with_its_seed(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"Sentence {i}.\tSatz {i} !\n" for i in range(40)), encoding="utf-8")
    cfg = OmegaConf.load(f"{CONFIGS}/data/tsv.yaml")
    cfg.path, cfg.val_size, cfg.test_size, cfg.vocab_size = str(path), 5, 5, 300
    data = load_translation_data(cfg, torch.device("cpu"))
    assert (len(data.train), len(data.val), len(data.test)) == (30, 5, 5)
    assert data.test.pairs == load_translation_data(cfg, torch.device("cpu")).test.pairs
    assert data.train.pairs[0][1].endswith(" !") and data.train.pairs[0][0].startswith("Sentence ")  # as written


def test_tsv_splits_are_clean_no_repeated_pair_and_no_held_out_source_in_training(tmp_path):
    lines = [f"Sentence {i}.\tSatz {i}.\n" for i in range(60)]
    lines += lines[:20]  # repeated pairs, as in Tatoeba-style files
    lines += [f"sentence  {i}.\tDer Satz {i}.\n" for i in range(30)]  # the same sources (case, spaces), retranslated
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    cfg = OmegaConf.load(f"{CONFIGS}/data/tsv.yaml")
    cfg.path, cfg.val_size, cfg.test_size, cfg.vocab_size = str(path), 10, 10, 300
    data = load_translation_data(cfg, torch.device("cpu"))
    key = lambda pairs: [normalize(s).casefold() for s, _ in pairs]  # noqa: E731
    train, val, test = key(data.train.pairs), key(data.val.pairs), key(data.test.pairs)
    assert len(set(val + test)) == len(val + test) == 20  # each held-out source once
    assert not set(train) & set(val + test)
    assert len(set(data.train.pairs)) == len(data.train.pairs)
    pairs_of_source = {f"sentence {i}.": 2 if i < 30 else 1 for i in range(60)}  # 90 distinct pairs
    assert len(train) == 90 - sum(pairs_of_source[source] for source in val + test)  # all the rest is trained on


def test_multi30k_downloads_verifies_and_reads_the_tarballs(tmp_path, monkeypatch, http_server):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    spec = datasets.SPECS["multi30k"]
    for resource, split in zip(spec.resources, ("train", "val", "test")):
        write_tarball(
            mirror / resource.filename,
            {
                f"{split}.en": f"A dog runs in the {split}.\nTwo men talk.\n\n",
                f"{split}.de": f"Ein Hund rennt im {split}.\nZwei Männer reden.\n",
            },
        )
    resources = tuple(
        datasets.Resource(r.filename, (datasets.file_hash(mirror / r.filename, "sha256"),)) for r in spec.resources
    )
    monkeypatch.setitem(
        datasets.SPECS,
        "multi30k",
        datasets.DatasetSpec("multi30k", (http_server + "nonexistent/", http_server + "mirror/"), resources),
    )
    splits = multi30k.load(
        multi30k.Multi30kConfig(name="multi30k", source="multi30k", root=str(tmp_path / "cache"), download=True)
    )
    assert splits["val"] == [
        ("A dog runs in the val.", "Ein Hund rennt im val."),
        ("Two men talk.", "Zwei Männer reden."),
    ]
    (tmp_path / "cache" / "training.tar.gz").write_bytes(b"corrupted")
    with pytest.raises(
        datasets.DatasetError,
        match=r"training.tar.gz fails its checksum \(sha256 .*python -m landmarks.download multi30k",
    ):
        multi30k.load(multi30k.Multi30kConfig(name="multi30k", source="multi30k", root=str(tmp_path / "cache")))


def test_length_grouped_batches_cover_an_epoch_with_similar_lengths():
    lengths = torch.randint(3, 40, (1000,), generator=torch.Generator().manual_seed(0))
    batches = length_grouped_batches(lengths, 50, torch.Generator().manual_seed(1), pool=4)
    assert len(batches) == 20 and all(len(b) == 50 for b in batches)
    assert len(torch.cat(batches).unique()) == 1000
    spread = sum(int(lengths[b].max() - lengths[b].min()) for b in batches) / len(batches)
    assert spread < 20  # random batches of 50 would span nearly the whole 3..39 range
    again = length_grouped_batches(lengths, 50, torch.Generator().manual_seed(1), pool=4)
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_bleu_is_standard_sacrebleu_on_the_text_as_written(tmp_path, caplog):
    """Translations decoded to real text score 100 against the references as read, with sacreBLEU's signature
    and none of its warnings (which 100 lines ending in a split-off " ." would raise)."""
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"Sentence {i}, here.\tSatz Nummer {i}, hier.\n" for i in range(300)), encoding="utf-8")
    cfg = compose_config("model=transformer", "data=tsv", f"data.path={path}", "data.val_size=20", "data.test_size=120")
    cfg.data.vocab_size = 300
    task = build_task(cfg, "cpu")
    model = create_model("transformer_tiny", **task.model_kwargs())
    test = task.data.test

    def unpadded(row: list[int]) -> tuple[int, ...]:
        return tuple(token for token in row if token != PAD)

    references = {unpadded(s): t for s, t in zip(test.src.tolist(), test.tgt[:, 1:].tolist())}
    task.translate = lambda model, src, beam_size: [references[unpadded(row)] for row in src.tolist()]  # the oracle
    metrics = task.evaluate(model, "test")
    assert metrics["bleu"] == pytest.approx(100.0) and metrics["exact_match"] == 1.0
    assert 0 < metrics["copy_bleu"] < 30  # the English sources share only the numbers and commas
    assert task.notes()["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert "detokenize" not in caplog.text


def test_under_compile_translation_batches_pad_to_a_multiple_of_8_with_the_same_loss():
    """torch.compile recompiles for each new shape: compiled runs pad lengths to multiples of 8 (and mark them
    dynamic); the padding is masked, so the loss is the same."""
    overrides = ["model=transformer", "data.train_size=64", "data.val_size=8", "data.test_size=8"]
    plain = build_task(compose_config(*overrides, "trainer.batch_size=16"), "cpu")
    padded = build_task(compose_config(*overrides, "trainer.batch_size=16", "trainer.compile=true"), "cpu")
    model, grew = create_model("transformer_tiny", p_drop=0.0, **plain.model_kwargs()).eval(), []
    for step in range(3):
        (src, tgt), (padded_src, padded_tgt) = plain.train_batch(step), padded.train_batch(step)
        assert padded_src.shape[1] % 8 == 0 and padded_tgt.shape[1] % 8 == 0
        grew.append(padded_src.shape[1] > src.shape[1])
        torch.testing.assert_close(padded.loss(model, (padded_src, padded_tgt))[0], plain.loss(model, (src, tgt))[0])
    assert any(grew)
