"""GPT-2: equal to Hugging Face's GPT2LMHeadModel, the paper's sizes, the fused and explicit attention paths,
generation with a key-value cache equal to recomputing the prefix, and the language-modelling task on the loop."""

import json

import pytest
import torch
from landmarks.models import create_model, list_models

from landmarks.config import validate
from landmarks.datasets import TextError
from landmarks.engine.checkpoint import load_checkpoint
from landmarks.schema import ConfigError
from landmarks.tasks.language_modeling.data import load_token_stream
from tests.conftest import compose_config, write_text
from train import resumed_config, run

SMALL = {"vocab_size": 50, "block_size": 16, "n_layer": 2, "n_head": 4, "n_embd": 32}


def test_equal_to_hugging_face_gpt2_with_its_weights():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    torch.manual_seed(0)
    reference = transformers.GPT2LMHeadModel(config).eval()
    model = create_model("gpt2", **SMALL).eval()
    model.load_hf_gpt2_state_dict(reference.state_dict())
    idx = torch.randint(0, 50, (3, 16))
    torch.testing.assert_close(model(idx), reference(idx).logits, atol=1e-5, rtol=1e-5)
    broken = {k: v for k, v in reference.state_dict().items() if "h.1.mlp.c_fc" not in k}
    with pytest.raises(RuntimeError, match="blocks.1.mlp.c_fc"):
        model.load_hf_gpt2_state_dict(broken)


@pytest.mark.parametrize(
    "name, params",
    [("gpt2", 124_439_808), ("gpt2_medium", 354_823_168), ("gpt2_large", 774_030_080), ("gpt2_xl", 1_557_611_200)],
)
def test_the_papers_sizes(name, params):
    with torch.device("meta"):
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == params  # the released checkpoints' counts
    assert model.vocab_size == 50257 and model.block_size == 1024
    assert model.lm_head.weight is model.wte.weight


def test_fused_and_explicit_attention_agree_and_every_parameter_learns():
    torch.manual_seed(0)
    model = create_model("gpt_tiny", **SMALL)
    idx = torch.randint(0, 50, (2, 16))
    torch.testing.assert_close(model(idx), model(idx, explicit=True), atol=1e-5, rtol=1e-5)
    model(idx).logsumexp(-1).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    future = idx.clone()
    future[:, 8:] = (future[:, 8:] + 1) % 50  # later tokens change nothing before them
    torch.testing.assert_close(model(idx)[:, :8], model(future)[:, :8])


def test_residual_projections_are_scaled_at_initialisation():
    torch.manual_seed(0)
    model = create_model("gpt_tiny", n_layer=8, n_embd=256, n_head=4)
    assert abs(model.blocks[0].mlp.c_fc.weight.std().item() - 0.02) < 1e-3
    assert abs(model.blocks[0].attn.c_proj.weight.std().item() - 0.02 / 4) < 5e-4  # 0.02 / sqrt(2 x 8)


def recompute_generate(model, idx, steps):
    """The released code's loop: crop to the context, run the whole window, take the last logits (greedy)."""
    for _ in range(steps):
        logits = model(idx[:, -model.block_size :])[:, -1]
        idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx


def test_cached_generation_equals_recomputing_the_prefix_past_the_context():
    torch.manual_seed(0)
    model = create_model("gpt_tiny", **SMALL).eval()
    prompt = torch.randint(0, 50, (2, 5))
    with torch.no_grad():
        logits, cache = model.forward_cached(prompt[:, :3], None)
        step, _ = model.forward_cached(prompt[:, 3:], cache)  # two new tokens after a cache
        torch.testing.assert_close(torch.cat([logits, step], 1), model(prompt), atol=1e-5, rtol=1e-5)
        expected = recompute_generate(model, prompt, 30)  # 35 tokens: past the 16-token context
    generated = model.generate(prompt, 30, top_k=1)
    assert torch.equal(generated, expected)
    sampled = model.generate(prompt, 5, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(
        sampled, model.generate(prompt, 5, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(1))
    )


def test_a_context_longer_than_the_model_names_the_fix():
    model = create_model("gpt_tiny", **SMALL)
    with pytest.raises(ValueError, match=r"17 tokens exceed the context of block_size=16; crop the input"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_language_models_are_registered_for_their_task():
    assert {"gpt2", "gpt2_medium", "gpt2_large", "gpt2_xl", "gpt_tiny"} <= set(list_models("language_modeling"))


def test_shakespeare_has_nanogpts_split_and_vocabulary():
    data = load_token_stream(compose_config("model=gpt").data, "cpu")
    assert (len(data.train), len(data.val), len(data.codec)) == (1_003_854, 111_540, 65)
    assert data.codec.decode(data.train[:14].tolist()) == "First Citizen:"


def text_config(path, *extra):
    return compose_config("model=gpt", "data=text", f"data.path={path}", "data.block_size=16", *extra)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "holds no text"),
        ("caf\u00e9 ".encode("latin-1") * 40, r":1: byte 0xe9 is not UTF-8"),
        (b"short", "too few"),
    ],
)
def test_bad_text_files_are_named(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(TextError, match=message):
        load_token_stream(text_config(path).data, "cpu")


def test_a_word_level_language_model_names_the_levels_it_reads(tmp_path):
    path = write_text(tmp_path / "corpus.txt")
    with pytest.raises(ConfigError, match=r"^data.level='word': expected char or byte$"):
        validate(text_config(path, "data.level=word"))


def test_byte_level_takes_any_language(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("Grüße aus Köln, 你好世界. " * 40, encoding="utf-8")
    data = load_token_stream(text_config(path, "data.level=byte").data, "cpu")
    assert len(data.codec) == 256 and data.codec.decode(data.train[:7].tolist()) == "Grüße"  # 7 bytes


LM_RUN = [
    "model=gpt",
    "model.n_layer=1",
    "model.n_embd=32",
    "model.n_head=2",
    "data=text",
    "data.block_size=32",
    "data.sample_length=20",
]
QUICK = [
    "trainer.batch_size=16",
    "trainer.log_every=2",
    "trainer.eval_every=6",
    "trainer.ckpt_every=6",
    "trainer.progress=false",
]


def test_a_language_model_learns_and_logs_samples(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    corpus = f"data.path={write_text(tmp_path / 'corpus.txt')}"
    results = run(compose_config(*LM_RUN, corpus, *QUICK, "trainer.steps=30", "optim.lr=1e-2"), tmp_path / "run")
    losses = [loss for _, loss in results["history"]]
    assert losses[-1] < 0.8 * losses[0], losses
    assert results["report"].startswith("  sample:\n    ")  # the console report ends with generated text
    assert results["test/bpc"] == pytest.approx(results["test/loss"] / 0.6931471805599453)
    assert results["val/ppl"] == pytest.approx(2.718281828459045 ** results["val/loss"], rel=1e-6)
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"tensors": 0})
    events.Reload()
    assert {"samples/generated/text_summary", "test/generated/text_summary"} <= set(events.Tags()["tensors"])


def test_without_pictures_no_samples_reach_tensorboard_but_the_report_keeps_one(tmp_path):
    """trainer.pictures=false (the speedruns and claims): no samples at the validation passes or the end."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    corpus = f"data.path={write_text(tmp_path / 'corpus.txt')}"
    results = run(compose_config(*LM_RUN, corpus, *QUICK, "trainer.steps=6", "trainer.pictures=false"), tmp_path)
    assert results["report"].startswith("  sample:\n    ")
    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    events.Reload()
    assert "val/loss" in events.Tags()["scalars"]
    assert not [tag for tag in events.Tags()["tensors"] if tag.endswith("generated/text_summary")]


def test_a_resumed_language_model_run_reproduces_the_uninterrupted_one(tmp_path):
    corpus = f"data.path={write_text(tmp_path / 'corpus.txt')}"
    overrides = [*LM_RUN, corpus, *QUICK, "trainer.steps=16", "model.dropout=0.1"]
    straight = run(compose_config(*overrides), tmp_path / "straight")
    run(compose_config(*overrides, "trainer.max_steps=6"), tmp_path / "cut")
    resume = [f"trainer.resume={tmp_path / 'cut'}", "trainer.max_steps=null"]
    cfg, run_dir, state = resumed_config(compose_config(*overrides, *resume), resume)
    resumed = run(cfg, run_dir, state)
    assert resumed["history"] == [entry for entry in straight["history"] if entry[0] > 6]
    for key, value in load_checkpoint(tmp_path / "straight")["model"].items():
        assert torch.equal(value, load_checkpoint(run_dir)["model"][key]), key
    assert json.loads((run_dir / "metrics.json").read_text())["test/loss"] == straight["test/loss"]
