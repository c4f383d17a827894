"""Model FLOPs utilisation (MFU, PaLM appendix B): the model's training FLOPs per sample, counted once with
torch.utils.flop_counter, times samples/s, over the device's peak FLOP/s."""

import json
import platform
import time
from pathlib import Path

import torch

PEAK_RECORD = Path.home() / ".cache" / "landmarks" / "peak_flops.json"
# Dense peak FLOP/s from the vendors' datasheets, by device name and precision (no sparsity).
PEAK_FLOPS = {
    ("H100", "bf16"): 989e12,
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


def train_flops_per_sample(model: torch.nn.Module, task, batch: tuple, autocast) -> float:
    """FLOPs of one forward and backward pass per sample of `batch`, leaving no trace on the model: the
    gradients are cleared, buffers (BatchNorm statistics) and the random state are restored."""
    from torch.utils.flop_counter import FlopCounterMode

    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    with torch.random.fork_rng(devices=[batch[0].device] if batch[0].device.type == "cuda" else []):
        counter = FlopCounterMode(display=False)
        with counter:
            with autocast:
                loss, _ = task.loss(model, batch)
            loss.backward()
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            buffer.copy_(buffers[name])
    return counter.get_total_flops() / len(batch[0])


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
