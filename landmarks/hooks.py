"""What a model may offer beyond `forward`: the optional methods the code looks for, in one table. A registered
model or a user's own (`model._target_`) offers one by defining the method; `hook(model, name)` is the one way the
code looks one up, so every hook is named here (docs/extending.md shows the table; tests/test_house.py checks both).
"""

HOOKS = {  # name: (signature and meaning, who calls it)
    "no_weight_decay": ("() -> names of parameters kept out of weight decay", "optimizers"),
    "edge_layers": ("() -> names of the input and output layers, which Muon leaves to AdamW", "Muon"),
    "fused_matrices": ("() -> {weight name: rows of each matrix stacked in it} (fused Q, K, V)", "Muon"),
    "train_flops": ("(input) -> FLOPs of a training step of this module, where the counter sees none", "MFU"),
    "init_whitening": ("(images) -> None: set from training images before the first step (airbench)", "images"),
    "attention_maps": ("(images) -> each layer's attention weights, for attention rollout", "images"),
    "first_layer_filters": ("() -> the first convolution's filters, drawn in TensorBoard", "images"),
    "alignments": ("(src, tgt_in) -> (B, T, S) attention weights, drawn as alignments", "translation"),
    "aux_loss": ("() -> a loss the last forward adds to the task's, or None (MoE load balancing)", "language models"),
    "phases": (
        "() -> {name: submodule}, each with its own optimizer, stepped in order (a GAN's D, then G)",
        "the loop",
    ),
    "after_step": ("() -> None, after each optimizer step (an average of the weights, DDPM's EMA)", "the loop"),
    "fixed_state": ("() -> names of decode_step state entries fixed per source (the memory), not reordered", "beam"),
}


def hook(module, name: str):
    """The bound method `name` of `module`, or None if it offers none; a KeyError for a name not in HOOKS."""
    if name not in HOOKS:
        raise KeyError(f"{name!r} is not a model hook of landmarks/hooks.py's HOOKS; add it there")
    return getattr(module, name, None)
