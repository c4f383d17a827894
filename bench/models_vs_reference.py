"""Forward+backward samples/s of our models against the reference implementations of the same architectures
(torchvision's resnet18, resnet50, alexnet and vit_b_16; torch.nn.Transformer), at the same sizes and batch,
measured interleaved in one process. Ratio = ours / reference: at least 0.97 is the bar.

    python bench/models_vs_reference.py                      # CPU, fp32
    python bench/models_vs_reference.py --device cuda        # GPU: bf16 autocast and torch.compile
    python bench/models_vs_reference.py resnet50 vit_b_16    # a subset
"""

import argparse
import contextlib

import torch
import torch.nn as nn
import torchvision
from common import interleaved_seconds, machine
from landmarks.models import create_model

IMAGE_PAIRS = {  # ours, reference: the same architecture (state dicts load strictly both ways, tests/)
    "resnet18": (lambda: create_model("resnet18"), torchvision.models.resnet18),
    "resnet50": (lambda: create_model("resnet50"), torchvision.models.resnet50),
    "alexnet": (lambda: create_model("alexnet_torchvision"), torchvision.models.alexnet),
    "vit_b_16": (lambda: create_model("vit_b_16"), torchvision.models.vit_b_16),
}


def image_step(model: nn.Module, images: torch.Tensor, autocast):
    def step():
        with autocast:
            model(images).float().square().mean().backward()
        model.zero_grad(set_to_none=True)

    return step


def transformer_steps(batch: int, length: int, device: torch.device, autocast, compile_: bool):
    """Transformer base stacks (d_model 512, 6+6 layers, 8 heads, d_ff 2048, P_drop 0.1), embeddings shared:
    ours through encode/decode, nn.Transformer on the same embedded inputs with the same masks."""
    ours = create_model("transformer_base", src_vocab_size=1000, tgt_vocab_size=1000).to(device).train()
    reference = (
        nn.Transformer(
            d_model=512,
            nhead=8,
            num_encoder_layers=6,
            num_decoder_layers=6,
            dim_feedforward=2048,
            dropout=0.1,
            batch_first=True,
        )
        .to(device)
        .train()
    )
    src = torch.randint(4, 1000, (batch, length), device=device)
    tgt = torch.randint(4, 1000, (batch, length), device=device)
    causal = nn.Transformer.generate_square_subsequent_mask(length, device=device)
    pad = src == 0
    run_ours = (
        torch.compile(lambda: ours.decode(ours.encode(src), tgt)[0])
        if compile_
        else lambda: ours.decode(ours.encode(src), tgt)[0]
    )
    reference_fn = torch.compile(reference) if compile_ else reference

    def run_reference():
        return reference_fn(
            ours.embed(ours.src_embed, src),
            ours.embed(ours.tgt_embed, tgt),
            tgt_mask=causal,
            src_key_padding_mask=pad,
            memory_key_padding_mask=pad,
        )

    def step(forward, model):
        def run():
            with autocast:
                forward().float().square().mean().backward()
            model.zero_grad(set_to_none=True)
            ours.zero_grad(set_to_none=True)

        return run

    return step(run_ours, ours), step(run_reference, reference)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="images per step (default: 8 on CPU, 128 on GPU)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bar", type=float, default=0.97, help="exit non-zero if a ratio falls below it")
    parser.add_argument("models", nargs="*", default=[*IMAGE_PAIRS, "transformer_base"], help="a subset to run")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    batch = args.batch or (128 if gpu else 8)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if gpu else contextlib.nullcontext()
    print(
        f"forward+backward, batch {batch}, {machine()}, "
        f"{'bf16 autocast + torch.compile' if gpu else 'fp32'}, torch {torch.__version__}"
    )
    print(f"{'model':<18}{'ours samples/s':>16}{'reference':>12}{'ratio':>8}")
    ratios = []
    for name, (build_ours, build_reference) in IMAGE_PAIRS.items():
        if name not in args.models:
            continue
        torch.manual_seed(0)
        models = [build().to(device).train() for build in (build_ours, build_reference)]
        images = torch.randn(batch, 3, 224, 224, device=device)
        steps = [image_step(torch.compile(m) if gpu else m, images, autocast) for m in models]
        seconds = interleaved_seconds({"ours": steps[0], "reference": steps[1]}, device, rounds=args.rounds)
        ratios.append(report(name, batch, seconds))
    if "transformer_base" in args.models:
        sentences = batch * 4
        ours_step, reference_step = transformer_steps(sentences, 32, device, autocast, gpu)
        seconds = interleaved_seconds({"ours": ours_step, "reference": reference_step}, device, rounds=args.rounds)
        ratios.append(report("transformer_base", sentences, seconds))
    return 0 if all(ratio >= args.bar for ratio in ratios) else 1


def report(name: str, samples: int, seconds: dict[str, float]) -> float:
    """Print a row; return its ratio, ours over the reference."""
    ours, reference = samples / seconds["ours"], samples / seconds["reference"]
    print(f"{name:<18}{ours:>16.1f}{reference:>12.1f}{ours / reference:>8.3f}", flush=True)
    return ours / reference


if __name__ == "__main__":
    raise SystemExit(main())
