"""A trained model back in other code in one call: load_run(run_dir) rebuilds the model from the run dir alone,
reproduces the run's test metric, and uses it as its task did (classify, translate, generate)."""

import json

import pytest
import torch

from landmarks import load_run
from landmarks.build import build_task
from landmarks.engine.checkpoint import CheckpointError
from tests.conftest import compose_config, tiny_run_overrides, write_text
from train import run


def test_an_image_run_comes_back_with_its_test_accuracy_and_classifies(tiny_fashion_mnist, tmp_path):
    results = run(compose_config(*tiny_run_overrides(tiny_fashion_mnist)), tmp_path)
    trained = load_run(tmp_path)
    assert not trained.model.training and trained.metrics["test/acc"] == results["test/acc"]
    assert trained.evaluate("test")["acc"] == results["test/acc"]
    task = build_task(trained.config, torch.device("cpu"))
    images = task.data.test.images[:16]
    with torch.no_grad():
        expected = task.predict(trained.model, images).argmax(dim=1).tolist()
    assert trained.classify(images.float() / 255) == [task.data.classes[i] for i in expected]


def test_a_translation_run_comes_back_with_its_bleu_and_translates(tmp_path):
    overrides = ["model=transformer", "data.train_size=256", "data.val_size=16", "data.test_size=16"]
    quick = ["trainer.batch_size=32", "trainer.max_steps=4", "trainer.eval_every=0", "trainer.progress=false"]
    results = run(compose_config(*overrides, *quick), tmp_path)
    trained = load_run(tmp_path)
    assert trained.evaluate("test")["bleu"] == pytest.approx(results["test/bleu"])
    task = build_task(trained.config, torch.device("cpu"))
    sources = [source for source, _ in task.data.test.pairs[:4]]
    with torch.no_grad():
        ids = task.translate(trained.model, task.data.test.src[:4], beam_size=1)
    assert trained.translate(sources) == [task.data.tokenizer.decode(row) for row in ids]
    from eval import evaluate, parse_attack  # an attack on a run that is not an image classifier: one line

    with pytest.raises(SystemExit, match=f"eval.py: attack=pgd perturbs images; {tmp_path} is a translation run"):
        evaluate(str(tmp_path), parse_attack(["attack=pgd"]))


def test_a_language_model_run_comes_back_and_generates(tmp_path):
    corpus = write_text(tmp_path / "corpus.txt")
    lm = ["model=gpt", "model.n_layer=1", "model.n_embd=32", "model.n_head=2", "data=text", f"data.path={corpus}"]
    quick = ["data.block_size=16", "trainer.batch_size=8", "trainer.max_steps=3", "trainer.progress=false"]
    results = run(compose_config(*lm, *quick, "trainer.eval_every=0"), tmp_path / "run")
    trained = load_run(tmp_path / "run")
    assert trained.evaluate("test")["loss"] == pytest.approx(results["test/loss"])
    text = trained.generate("The red ship", 20)
    assert text.startswith("The red ship") and len(text) == len("The red ship") + 20
    assert text == trained.generate("The red ship", 20)  # reproducible for a seed
    assert text != trained.generate("The red ship", 20, seed=1)  # and another seed samples other text
    with pytest.raises(AttributeError, match=r"^this is a language_modeling run: it offers generate and evaluate, not"):
        trained.classify(torch.zeros(1, 1, 8, 8))


def test_a_dir_that_is_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"model.pt not found; pass the run dir that train.py printed"):
        load_run(tmp_path)


def test_eval_py_evaluates_in_the_loops_precision_and_gives_its_test_metrics(tiny_fashion_mnist, tmp_path, monkeypatch):
    """A bf16 run (autocast in training) is tested in fp32 by the loop; eval.py must not evaluate it in bf16, and
    configures the device as the run did (on a GPU, whether fp32 matmuls use TF32)."""
    from eval import evaluate
    from landmarks.engine import device

    quick = ["trainer.precision=bf16", "trainer.max_steps=2", "trainer.eval_every=0", "data.test_size=64"]
    results = run(compose_config(*tiny_run_overrides(tiny_fashion_mnist, *quick)), tmp_path)
    configured = []
    monkeypatch.setattr(device, "configure", lambda *args: configured.append(args))
    row = evaluate(str(tmp_path))
    assert configured == [(torch.device("cpu"), "bf16")]
    assert row["test/loss"] == f"{results['test/loss']:.4f}" and row["test/acc"] == f"{results['test/acc']:.4f}"
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test/loss"] == results["test/loss"]  # to the last digit
