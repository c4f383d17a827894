"""The modern GPT ingredients (models/gpt.py), each by its defining property, and LLaMA equal to Hugging Face's
LlamaForCausalLM."""

import pytest
import torch
import transformers
from landmarks.models import create_model
from landmarks.models.gpt import GPT, from_hf_llama, rotary_angles, rotate

TINY = {"vocab_size": 50, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 16}


def test_rotary_scores_depend_on_relative_position_only():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(i: int, j: int) -> torch.Tensor:
        cos, sin = rotary_angles(8, torch.tensor([i, j]))
        return (rotate(q, cos[:1], sin[:1]) * rotate(k, cos[1:], sin[1:])).sum()

    torch.testing.assert_close(score(3, 1), score(13, 11))  # the same distance, 10 positions later
    assert not torch.allclose(score(3, 1), score(3, 2))  # another distance, another score
    cos, sin = rotary_angles(8, torch.tensor([5]))
    torch.testing.assert_close(rotate(q, cos, sin).norm(), q.norm())  # a rotation keeps the norm


def test_soft_capped_logits_stay_within_the_cap():
    torch.manual_seed(0)
    model = GPT(**TINY, logit_softcap=2.0)
    with torch.no_grad():
        model.lm_head.weight.mul_(1000)  # raw logits far beyond the cap
        logits = model(torch.randint(0, 50, (2, 10)))
    assert logits.abs().max() <= 2.0 and logits.abs().max() > 1.9


def test_qk_norm_gives_queries_and_keys_unit_rms_per_head():
    torch.manual_seed(0)
    attention = GPT(**TINY, qk_norm=True).blocks[0].attn
    seen = {}
    attention.q_norm.register_forward_hook(lambda module, args, out: seen.setdefault("q", out))
    attention(torch.randn(2, 5, 16) * 30)
    torch.testing.assert_close(seen["q"].pow(2).mean(-1).sqrt(), torch.ones(2, 2, 5), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("mlp", ["swiglu", "relu2"])
def test_mlp_variants_compute_their_formula(mlp):
    torch.manual_seed(0)
    block = GPT(**TINY, mlp=mlp, mlp_hidden=24).blocks[0].mlp.eval()
    x = torch.randn(3, 16)
    h = x @ block.c_fc.weight.T + block.c_fc.bias
    inner = torch.nn.functional.silu(h[:, :24]) * h[:, 24:] if mlp == "swiglu" else torch.relu(h) ** 2
    torch.testing.assert_close(block(x), inner @ block.c_proj.weight.T + block.c_proj.bias)


def test_no_biases_rmsnorm_and_an_untied_head():
    model = GPT(**TINY, bias=False, norm="rmsnorm", tie_embeddings=False, position="rope")
    names = {name for name, _ in model.named_parameters()}
    assert not any(name.endswith("bias") for name in names) and "wpe.weight" not in names
    assert isinstance(model.ln_f, torch.nn.RMSNorm) and model.lm_head.weight is not model.wte.weight
    tied = GPT(**TINY)
    assert tied.lm_head.weight is tied.wte.weight


@pytest.mark.parametrize("options", [{"position": "rope"}, {"qk_norm": True, "logit_softcap": 15.0}, {"mlp": "relu2"}])
def test_every_option_learns_and_caches_as_it_recomputes(options):
    torch.manual_seed(0)
    model = GPT(**TINY, **options)
    idx = torch.randint(0, 50, (2, 12))
    logits = model(idx)
    torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    with torch.no_grad():
        _, cache = model.forward_cached(idx[:, :7], None)
        step, _ = model.forward_cached(idx[:, 7:9], cache)
        torch.testing.assert_close(step, model(idx[:, :9])[:, 7:9], rtol=1e-5, atol=1e-5)


def hf_llama(**options) -> "transformers.LlamaForCausalLM":
    torch.manual_seed(0)
    sizes = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2}
    sizes |= {"num_attention_heads": 4, "max_position_embeddings": 48, "rms_norm_eps": 1e-6}
    config = transformers.LlamaConfig(**{**sizes, **options}, attn_implementation="eager")
    return transformers.LlamaForCausalLM(config).eval()


@pytest.mark.parametrize(
    "options",
    [
        {"num_key_value_heads": 4},
        {"num_key_value_heads": 2},
        {"num_key_value_heads": 1},
        {"num_key_value_heads": 2, "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": True},
    ],
    ids=["multi-head", "grouped-query", "multi-query", "llama-3-theta-eps-tied"],
)
def test_llama_built_from_hugging_faces_config_equals_its_llama(options):
    theirs = hf_llama(**options)
    ours = from_hf_llama(theirs.config, theirs.state_dict()).eval()
    assert ours.rope_theta == options.get("rope_theta", 10000.0)
    assert ours.blocks[0].attn.n_kv_head == options["num_key_value_heads"]
    idx = torch.randint(0, 64, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), theirs(idx).logits, rtol=0, atol=1e-5)
        assert (ours(idx.roll(1, dims=1)) - ours(idx)).abs().max() > 1e-2  # the input matters
    as_json = {**theirs.config.to_dict(), "rope_parameters": None, "rope_theta": options.get("rope_theta", 10000.0)}
    assert from_hf_llama(as_json, theirs.state_dict()).rope_theta == ours.rope_theta  # a config.json's older keys


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, r"rope_scaling=\{'rope_type': 'llama3'"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, r"rope_scaling=\{'rope_type': 'yarn'"),
        ({"hidden_act": "gelu"}, r"hidden_act=gelu is not supported"),
        ({"attention_bias": True}, r"attention_bias=True is not supported"),
    ],
)
def test_a_llama_config_this_model_does_not_compute_is_refused_in_one_line(change, message):
    config = {**hf_llama().config.to_dict(), **change}
    with pytest.raises(ValueError, match=rf"^the Llama config's {message}"):
        from_hf_llama(config, {})


def test_llama_7b_has_the_papers_exact_size():
    with torch.device("meta"):
        ours = create_model("llama_7b")
        theirs = transformers.LlamaForCausalLM(transformers.LlamaConfig())  # 7B's sizes are its defaults
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(ours) == count(theirs) == 6_738_415_616


def test_bad_options_name_the_choices():
    with pytest.raises(ValueError, match="position='alibi'; use learned"):
        GPT(**TINY, position="alibi")
    with pytest.raises(ValueError, match="mlp='geglu'; use one of gelu, swiglu, relu2"):
        GPT(**TINY, mlp="geglu")
    with pytest.raises(ValueError, match="logit_softcap=0 must be > 0"):
        GPT(**TINY, logit_softcap=0)


def test_grouped_query_attention_caches_only_its_key_and_value_heads():
    model = GPT(**TINY | {"n_head": 4, "n_kv_head": 2}).eval()
    idx = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(0))
    logits, cache = model.forward_cached(idx[:, :7], None)
    assert cache[0][0].shape == (2, 2, 7, 4)  # (B, n_kv_head, T, head_dim): half of multi-head's cache
    step, _ = model.forward_cached(idx[:, 7:9], cache)
    torch.testing.assert_close(step, model(idx[:, :9])[:, 7:9], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="n_head=4 is not divisible by n_kv_head=3"):
        GPT(**TINY | {"n_head": 4, "n_kv_head": 3})
