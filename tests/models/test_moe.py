"""The GPT's mixture of experts (models/gpt.py, MoE): routing, Switch's balance loss, the dense limit, and the
optimizers' treatment of expert matrices and routers."""

import pytest
import torch
import torch.nn.functional as F
from landmarks.models.gpt import GPT, MLP, MoE

from landmarks.engine.optimizers.muon import hidden_matrices

TINY = {"vocab_size": 50, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16, "mlp_hidden": 24}


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_each_token_reaches_exactly_k_experts(top_k):
    torch.manual_seed(0)
    moe = MoE(16, 24, n_experts=4, top_k=top_k)
    received = []
    for expert in moe.experts:
        expert.register_forward_hook(lambda module, inputs, out: received.append(inputs[0]))
    x = torch.randn(2, 7, 16)
    moe(x)
    tokens = x.flatten(0, 1)
    visits = sum((rows[:, None] == tokens[None]).all(-1).sum(0) for rows in received)  # per token: experts it reached
    assert visits.tolist() == [top_k] * 14


def test_the_balance_loss_is_switchs_formula():
    torch.manual_seed(0)
    moe = MoE(16, 24, n_experts=4, top_k=1)
    x = torch.randn(3, 5, 16)
    moe(x)
    probs = F.softmax(moe.router(x.flatten(0, 1)), dim=-1)
    f = torch.bincount(probs.argmax(-1), minlength=4).float() / 15  # fraction of tokens dispatched to each expert
    torch.testing.assert_close(moe.balance, 4 * (f * probs.mean(0)).sum())
    moe.router.weight.data.zero_()  # uniform probabilities (P_i = 1/4, and f sums to 1): the balance is 1
    moe(x)
    assert moe.balance.item() == pytest.approx(1.0)


def test_all_experts_at_equal_weights_equal_a_dense_mlp_of_their_total_width():
    torch.manual_seed(0)
    moe = MoE(16, 24, n_experts=3, top_k=3)
    moe.router.weight.data.zero_()  # each expert weighted 1/3
    dense = MLP(16, 3 * 24)
    with torch.no_grad():
        dense.c_fc.weight.copy_(torch.cat([e.c_fc.weight for e in moe.experts]))
        dense.c_fc.bias.copy_(torch.cat([e.c_fc.bias for e in moe.experts]))
        dense.c_proj.weight.copy_(torch.cat([e.c_proj.weight for e in moe.experts], dim=1) / 3)
        dense.c_proj.bias.copy_(sum(e.c_proj.bias for e in moe.experts) / 3)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(moe(x), dense(x))


def test_a_moe_gpt_learns_through_every_expert_and_router_and_adds_the_balance_loss():
    torch.manual_seed(0)
    model = GPT(**TINY, moe_experts=4, moe_top_k=2)
    idx = torch.randint(0, 50, (4, 16))
    loss = F.cross_entropy(model(idx).flatten(0, 1), idx.flatten()) + model.aux_loss()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert model.aux_loss().item() == pytest.approx(0.01 * sum(b.mlp.balance.item() for b in model.blocks))
    assert GPT(**TINY).aux_loss() is None


def test_muon_orthogonalises_each_expert_matrix_and_leaves_the_router_to_adamw():
    model = GPT(**TINY, moe_experts=3, mlp="swiglu")
    muon = {
        name: hidden_matrices(model)[id(p)] for name, p in model.named_parameters() if id(p) in hidden_matrices(model)
    }
    assert muon["blocks.0.mlp.experts.2.c_fc.weight"] == (24, 24)  # SwiGLU's W and V orthogonalised apart
    assert muon["blocks.1.mlp.experts.0.c_proj.weight"] is None  # one matrix
    assert len([name for name in muon if ".experts." in name]) == 2 * 3 * 2  # every expert matrix, AdamW none
    assert not any("router" in name for name in muon)  # 4 x 16 scores: AdamW's, as the edge layers


def test_bad_top_k_names_the_range():
    with pytest.raises(ValueError, match="moe_top_k=5 must be between 1 and moe_experts=4"):
        GPT(**TINY, moe_experts=4, moe_top_k=5)
