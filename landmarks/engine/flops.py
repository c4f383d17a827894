"""Model FLOPs utilisation (MFU, PaLM appendix B): the model's training FLOPs per sample, counted with
torch.utils.flop_counter on a few batches, times samples/s, over the device's peak FLOP/s.

FlopCounterMode counts matrix products and convolutions. Attention is counted through PyTorch's math kernel
(it has no formula for the CPU's fused one); a module whose ops would be miscounted says what it computes in a
`train_flops(input)` method (AlexNet's LRN, a banded 1x1 convolution that really sums n channels)."""

import json
import platform
import time
from pathlib import Path

import torch

PEAK_RECORD = Path.home() / ".cache" / "landmarks" / "peak_flops.json"
# Dense peak FLOP/s from the vendors' datasheets, by device name and precision (no sparsity).
PEAK_FLOPS = {  # the first name found in the device's name wins: variants before "H100"
    ("H100 PCIe", "bf16"): 756e12,
    ("H100 PCIe", "fp32"): 51e12,
    ("H100 NVL", "bf16"): 835e12,
    ("H100 NVL", "fp32"): 60e12,
    ("H100", "bf16"): 989e12,  # SXM, named e.g. "NVIDIA H100 80GB HBM3"
    ("H100", "fp32"): 67e12,
    ("H200", "bf16"): 989e12,
    ("H200", "fp32"): 67e12,
    ("A100", "bf16"): 312e12,
    ("A100", "fp32"): 19.5e12,
}


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name (from /proc/cpuinfo where there is one)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    names = (
        [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        if cpuinfo.exists()
        else []
    )
    return names[0] if names else platform.processor() or platform.machine()


def train_flops_per_sample(model: torch.nn.Module, task, batches: list[tuple], autocast) -> float:
    """FLOPs of one forward and backward pass per sample, over all of `batches` (per-sample FLOPs vary with the
    padded length of a batch), leaving no trace on the model: the gradients are cleared, buffers (BatchNorm
    statistics) and the random state are restored."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    recounted = {f"{type(model).__name__}.{n}": m for n, m in model.named_modules() if hasattr(m, "train_flops")}
    own_counts = []
    hooks = [
        m.register_forward_hook(lambda m, inputs, _: own_counts.append(m.train_flops(inputs[0])))
        for m in recounted.values()
    ]
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    device = batches[0][0].device
    counter = FlopCounterMode(display=False)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), counter:
        for batch in batches:
            with autocast, sdpa_kernel(SDPBackend.MATH):
                loss, _ = task.loss(model, batch)
            loss.backward()
    for hook in hooks:
        hook.remove()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            buffer.copy_(buffers[name])
    counts = counter.get_flop_counts()
    miscounted = sum(sum(counts.get(name, {}).values()) for name in recounted)
    return (counter.get_total_flops() - miscounted + sum(own_counts)) / sum(len(batch[0]) for batch in batches)


def peak_flops(device: torch.device, precision: str, record: Path = PEAK_RECORD) -> tuple[float, str]:
    """The device's peak FLOP/s and where it came from: the datasheet for known GPUs; otherwise the best of a
    few timed matmuls, and of every earlier measurement on this machine kept in `record` (one measurement
    on a CPU halves when another process takes a core, and MFU curves must stay comparable across runs)."""
    name = device_name(device)
    if device.type == "cuda":
        for (model, dtype), flops in PEAK_FLOPS.items():
            if model in name and dtype == precision:
                return flops, f"{model} datasheet, {precision}"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = 4096 if device.type == "cuda" else 1024
    a = b = torch.ones(n, n, device=device, dtype=dtype)  # not randn: the training's random stream stays untouched
    best = float("inf")
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        (a @ b).sum().item()
        best = min(best, time.perf_counter() - start)
    key = f"{name}, {torch.get_num_threads()} threads, {precision}"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    peak = max(2 * n**3 / best, known.get(key, 0.0))
    if peak > known.get(key, 0.0):
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({**known, key: peak}, indent=2))
        except OSError:
            pass  # a read-only home: the measurement still serves this run
    return peak, f"best timed {n}x{n} {precision} matmul on this machine ({record})"
