"""Muon (landmarks/engine/optimizers/muon.py): the Newton-Schulz orthogonalisation and the step against PyTorch's
torch.optim.Muon, which parameters it trains, one schedule and one checkpoint for Muon and AdamW together."""

import copy

import pytest
import torch
from landmarks.models import create_model, list_models, model_task

from landmarks.engine.optimizers import build_optimizer
from landmarks.engine.optimizers.muon import Muon, MuonConfig, hidden_matrices, orthogonalize, orthogonalize_by_shape
from landmarks.engine.schedules import build_schedule

MUON = {"name": "muon", "lr": 1e-2, "momentum": 0.95, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.1}


@pytest.mark.parametrize("shape", [(16, 48), (48, 16)])
def test_orthogonalize_equalises_the_singular_values_as_pytorchs_does(shape):
    from torch.optim._muon import _zeropower_via_newtonschulz

    matrix = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    matrix = matrix * torch.logspace(-1, 1, shape[1])  # singular values over two decades
    ours = orthogonalize(matrix)
    singular = torch.linalg.svdvals(ours)
    assert singular.min() > 0.6 and singular.max() < 1.3, singular
    reference = _zeropower_via_newtonschulz(matrix, (3.4445, -4.7750, 2.0315), 5, 1e-7).float()  # in bfloat16
    assert (ours - reference).norm() < 0.02 * reference.norm()
    assert ours.dtype == torch.float32


def test_muon_steps_as_pytorchs_muon_with_adamw_matched_update_size():
    weight = torch.randn(24, 40, generator=torch.Generator().manual_seed(0))
    ours, theirs = torch.nn.Parameter(weight.clone()), torch.nn.Parameter(weight.clone())
    optimizers = [
        Muon([ours], lr=0.02, momentum=0.9, weight_decay=0.1),
        torch.optim.Muon([theirs], lr=0.02, momentum=0.9, weight_decay=0.1, adjust_lr_fn="match_rms_adamw"),
    ]
    for step in range(3):
        grad = torch.randn(24, 40, generator=torch.Generator().manual_seed(step + 1))
        for param, optimizer in zip((ours, theirs), optimizers):
            param.grad = grad.clone()
            optimizer.step()
    moved = (theirs - weight).norm()
    assert moved > 0.1
    assert (ours - theirs).norm() < 0.02 * moved  # theirs orthogonalises in bfloat16


@pytest.mark.parametrize(
    "name, kwargs, hidden, not_hidden",
    [
        (
            "gpt_tiny",
            {"vocab_size": 65},
            ["blocks.0.attn.c_attn.weight", "blocks.3.mlp.c_proj.weight"],
            ["wte.weight", "wpe.weight"],
        ),
        (
            "vit_tiny_patch7",
            {},
            ["blocks.0.attn.qkv.weight", "blocks.0.mlp.0.weight"],
            ["patch_embed.proj.weight", "head.weight", "cls_token", "pos_embedding"],
        ),
        (
            "seq2seq_tiny",
            {"src_vocab_size": 20, "tgt_vocab_size": 20},
            ["encoder.weight_hh_l0_reverse", "decoder.weight_ih", "W_s.weight"],
            ["W_o.weight", "src_embed.weight"],
        ),
        (
            "resnet20",
            {},
            ["layer1.0.conv1.weight", "layer3.2.conv2.weight"],
            ["conv1.weight", "fc.weight", "bn1.weight"],
        ),
    ],
)
def test_muon_trains_the_hidden_matrices_and_adamw_the_rest(name, kwargs, hidden, not_hidden):
    model = create_model(name, **kwargs)
    optimizer = build_optimizer(MuonConfig(**MUON), model, torch.device("cpu"))
    muon, adamw = optimizer.parts
    params = dict(model.named_parameters())
    in_muon = {id(p) for group in muon.param_groups for p in group["params"]}
    in_adamw = {id(p) for group in adamw.param_groups for p in group["params"]}
    assert in_muon.isdisjoint(in_adamw) and in_muon | in_adamw == {id(p) for p in params.values()}
    assert all(id(params[n]) in in_muon for n in hidden)
    assert all(id(params[n]) in in_adamw for n in not_hidden)
    assert all(params[n].ndim >= 2 for n in hidden)


def test_one_schedule_and_one_checkpoint_drive_muon_and_adamw():
    torch.manual_seed(0)
    model = create_model("gpt_tiny", vocab_size=11, n_layer=1, block_size=8)
    cfg = MuonConfig(**MUON, schedule="onecycle", warmup=0.25)
    tokens = torch.randint(0, 11, (4, 9), generator=torch.Generator().manual_seed(0))

    def train(model, optimizer, schedule, steps):
        for _ in range(steps):
            logits = model(tokens[:, :-1])
            torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()).backward()
            optimizer.step()
            optimizer.zero_grad()
            schedule.step()
            assert len({group["lr"] for group in optimizer.param_groups}) == 1  # every group on the schedule

    optimizer = build_optimizer(cfg, model, torch.device("cpu"))
    schedule = build_schedule(cfg, optimizer, total_steps=8)
    train(model, optimizer, schedule, 3)
    saved = copy.deepcopy((model.state_dict(), optimizer.state_dict(), schedule.state_dict()))
    train(model, optimizer, schedule, 3)

    restored = create_model("gpt_tiny", vocab_size=11, n_layer=1, block_size=8)
    restored.load_state_dict(saved[0])
    optimizer2 = build_optimizer(cfg, restored, torch.device("cpu"))
    schedule2 = build_schedule(cfg, optimizer2, total_steps=8)
    optimizer2.load_state_dict(saved[1])
    schedule2.load_state_dict(saved[2])
    train(restored, optimizer2, schedule2, 3)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value, atol=0, rtol=0)


def test_a_model_without_hidden_matrices_names_the_fix():
    with pytest.raises(ValueError, match="optim=muon: Linear has no hidden weight matrices to train; use optim=adamw"):
        build_optimizer(MuonConfig(**MUON), torch.nn.Linear(4, 2), torch.device("cpu"))


def small(name: str, **sizes) -> torch.nn.Module:
    """The registered model on the meta device (the paper's sizes without their memory), with small vocabularies."""
    vocab = {
        "image_classification": {"num_classes": 5},
        "image_generation": {"num_classes": 5},
        "translation": {"src_vocab_size": 20, "tgt_vocab_size": 20},
    }
    with torch.device("meta"):
        return create_model(name, **vocab.get(model_task(name), {"vocab_size": 20}), **sizes)


@pytest.mark.parametrize("name", list_models())
def test_muon_leaves_every_models_input_and_output_layers_to_adamw(name):
    """Jordan et al. 2024: Muon is for the hidden layers. Every family names its edges; every other weight matrix
    of a Linear, convolution or recurrent layer goes to Muon."""
    model = small(name)
    edges = model.edge_layers()
    hidden = hidden_matrices(model)
    modules = dict(model.named_modules())
    assert edges and all(name in modules for name in edges)
    edge_params = {id(p) for edge in edges for p in modules[edge].parameters()}
    assert hidden and edge_params.isdisjoint(hidden)
    layers = (torch.nn.Linear, torch.nn.modules.conv._ConvNd, torch.nn.RNNBase, torch.nn.RNNCellBase)
    matrices = {
        id(p)
        for m in model.modules()
        if isinstance(m, layers)
        for weight, p in m.named_parameters(recurse=False)
        if weight.startswith("weight") and p.ndim >= 2 and p.requires_grad
    }
    assert set(hidden) == matrices - edge_params


def test_a_model_that_names_no_edges_keeps_its_first_layer_and_its_last_linear_out():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
    )
    assert set(hidden_matrices(model)) == {id(model[2].weight)}


def test_fused_qkv_is_orthogonalised_block_by_block():
    """With Q's gradient 10x K's and V's, one Newton-Schulz over the stacked (3d x d) matrix gives Q most of the
    step; block by block, each of Q, K and V moves by the same RMS (modded-nanogpt's per-head-matrix update)."""
    d = 32
    weight = torch.nn.Parameter(torch.zeros(3 * d, d))
    grad = torch.randn(3 * d, d, generator=torch.Generator().manual_seed(0))
    grad[:d] *= 10
    rms = {}
    for rows in (None, (d, d, d)):
        weight.data.zero_()
        weight.grad = grad.clone()
        Muon([{"params": [weight], "rows": rows}], lr=1.0, momentum=0.0).step()
        rms[rows] = [chunk.pow(2).mean().sqrt().item() for chunk in weight.detach().chunk(3)]
    assert max(rms[d, d, d]) / min(rms[d, d, d]) < 1.05, rms[d, d, d]  # each block its own step of the same size
    assert rms[None][0] / rms[None][1] > 2, rms[None]  # the stacked matrix: Q takes most of it
    assert model_rows("gpt_tiny") == {f"blocks.{i}.attn.c_attn.weight": (128, 128, 128) for i in range(4)}
    assert model_rows("vit_tiny_patch7") == {
        f"blocks.{i}.attn.qkv.weight": (128, 128, 128) for i in range(len(small("vit_tiny_patch7").blocks))
    }
    grouped = {"n_layer": 1, "n_head": 4, "n_kv_head": 1}  # K and V of one head: 32 rows each against Q's 128
    swiglu = {"blocks.0.mlp.c_fc.weight": (352, 352)}  # llama_tiny's W and V
    assert model_rows("llama_tiny", **grouped) == {"blocks.0.attn.c_attn.weight": (128, 32, 32), **swiglu}


def test_a_checkpoint_of_the_earlier_muon_is_refused_not_split_wrongly():
    weight = torch.nn.Parameter(torch.zeros(6, 2))
    saved = Muon([weight], lr=1.0).state_dict()
    saved["param_groups"][0]["blocks"] = 3  # the earlier rule: 3 equal blocks, which split(3) would read as rows
    del saved["param_groups"][0]["rows"]
    with pytest.raises(ValueError, match=r"earlier rule \(blocks=\[3\]\).*start the run again"):
        Muon([weight], lr=1.0).load_state_dict(saved)


def model_rows(name: str, **sizes) -> dict[str, tuple[int, ...]]:
    """The weights of `name` that Muon splits, with the rows of each block."""
    model = small(name, **sizes)
    hidden, names = hidden_matrices(model), {id(p): n for n, p in model.named_parameters()}
    return {names[i]: rows for i, rows in hidden.items() if rows}


def test_matrices_of_one_shape_are_orthogonalised_together_as_each_alone():
    """Muon's step stacks the matrices of one shape into one batched Newton-Schulz: the same updates as one by one."""
    shapes = [(8, 12), (8, 12), (12, 8), (16, 4), (8, 12)]
    matrices = [torch.randn(shape, generator=torch.Generator().manual_seed(i)) for i, shape in enumerate(shapes)]
    together = orthogonalize_by_shape(matrices, 5)
    for matrix, update in zip(matrices, together, strict=True):
        torch.testing.assert_close(update, orthogonalize(matrix) * 0.2 * max(matrix.shape) ** 0.5, rtol=1e-5, atol=1e-6)


def test_each_group_steps_by_its_own_lr_and_rows_as_a_muon_of_it_alone():
    weights = [
        torch.nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(i)))
        for i, shape in enumerate([(8, 12), (24, 8)])
    ]
    grads = [torch.randn_like(w) for w in weights]
    alone = []
    for weight, grad, lr, rows in zip(weights, grads, (1.0, 0.5), (None, (12, 12)), strict=True):
        copy = torch.nn.Parameter(weight.detach().clone())
        copy.grad = grad.clone()
        Muon([{"params": [copy], "rows": rows}], lr=lr, weight_decay=0.1).step()
        alone.append(copy.detach())
    for weight, grad in zip(weights, grads, strict=True):
        weight.grad = grad
    groups = [{"params": [weights[0]], "rows": None}, {"params": [weights[1]], "rows": (12, 12), "lr": 0.5}]
    Muon(groups, lr=1.0, weight_decay=0.1).step()
    for weight, expected in zip(weights, alone, strict=True):
        torch.testing.assert_close(weight.detach(), expected, rtol=1e-5, atol=1e-6)
