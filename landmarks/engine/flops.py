"""Model FLOPs utilisation (MFU, PaLM appendix B): the model's training FLOPs per sample, counted with
torch.utils.flop_counter on a few batches, times samples/s, over the device's peak FLOP/s.

FlopCounterMode counts matrix products and convolutions. Attention is counted through PyTorch's math kernel
(it has no formula for the CPU's fused one); a module whose ops would be miscounted says what it computes in a
`train_flops(input)` method (AlexNet's LRN, a banded 1x1 convolution that really sums n channels), and recurrent
layers are counted by `rnn_train_flops` (cuDNN's fused RNN kernel has no formula: they counted 0 on CUDA)."""

import contextlib
import json
import platform
import time
from pathlib import Path

import torch

from landmarks.engine.phases import named_phases, phase_loss
from landmarks.hooks import hook

PEAK_RECORD = Path.home() / ".cache" / "landmarks" / "peak_flops.json"
# Dense peak FLOP/s from the vendors' datasheets, by device name and precision (no sparsity).
PEAK_FLOPS = {  # the first name found in the device's name wins: variants before their family's name
    ("H100 PCIe", "bf16"): 756e12,
    ("H100 PCIe", "fp32"): 51e12,
    ("H100 NVL", "bf16"): 835e12,
    ("H100 NVL", "fp32"): 60e12,
    ("H100", "bf16"): 989e12,  # SXM, named e.g. "NVIDIA H100 80GB HBM3"
    ("H100", "fp32"): 67e12,
    ("H200 NVL", "bf16"): 835e12,
    ("H200 NVL", "fp32"): 60e12,
    ("H200", "bf16"): 989e12,  # SXM
    ("H200", "fp32"): 67e12,
    ("A100", "bf16"): 312e12,
    ("A100", "fp32"): 19.5e12,
    ("L40S", "bf16"): 362e12,
    ("L40S", "fp32"): 91.6e12,
    ("RTX 4090", "bf16"): 165.2e12,  # with fp32 accumulation, as autocast computes
    ("RTX 4090", "fp32"): 82.6e12,
    ("A10", "bf16"): 125e12,  # "A10" after "A100": the A100 matched first
    ("A10", "fp32"): 31.2e12,
    ("L40", "bf16"): 181e12,  # "L40" after "L40S"
    ("L40", "fp32"): 90.5e12,
    ("L4", "bf16"): 121e12,
    ("L4", "fp32"): 30.3e12,
    ("V100", "fp32"): 15.7e12,  # SXM2; no bf16 tensor cores (nor on the T4): precision=auto is fp32 there
    ("T4", "fp32"): 8.1e12,
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


RNN_GATES = {"GRU": 3, "LSTM": 4, "RNN_TANH": 1, "RNN_RELU": 1}


def rnn_train_flops(rnn: torch.nn.RNNBase, inputs: tuple) -> float:
    """A recurrent layer's forward and backward FLOPs as PyTorch's CPU kernels compute them, for any device: per
    layer and direction, the input and hidden projections (2 N in G H and 2 N H G H for N tokens, G gates), their
    weight gradients, the hidden state's gradient at every step but a sequence's first, and the input's gradient
    where the input needs one. Biases and gate nonlinearities are not counted, as FlopCounterMode does not."""
    x = inputs[0]
    packed = isinstance(x, torch.nn.utils.rnn.PackedSequence)
    data = x.data if packed else x
    if packed:
        tokens, first, last = len(data), int(x.batch_sizes[0]), int(x.batch_sizes[-1])
    else:
        batch = data.shape[0] if rnn.batch_first or data.ndim == 2 else data.shape[1]
        tokens, first = data.shape[:-1].numel(), batch
        last = first
    gates, hidden, directions = RNN_GATES[rnn.mode] * rnn.hidden_size, rnn.hidden_size, 2 if rnn.bidirectional else 1
    total = 0.0
    for layer in range(rnn.num_layers):
        width = rnn.input_size if layer == 0 else hidden * directions
        project_input, project_hidden = 2 * tokens * width * gates, 2 * tokens * hidden * gates
        for direction in range(directions):
            first_steps = first if direction == 0 else last  # the reverse direction starts with the last step's batch
            total += 2 * (project_input + project_hidden) + 2 * (tokens - first_steps) * hidden * gates
            total += project_input if layer > 0 or data.requires_grad else 0
    return total


@contextlib.contextmanager
def no_trace(model: torch.nn.Module, device: torch.device):
    """Passes inside leave no trace on the model or the run: the random state and the buffers (BatchNorm
    statistics) are restored and the gradients cleared after."""
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    forked = {"devices": [device], "device_type": device.type} if device.type in ("cuda", "mps") else {"devices": []}
    with torch.random.fork_rng(**forked):
        yield
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            buffer.copy_(buffers[name])


def backward_every_phase(model: torch.nn.Module, task, batch: tuple, autocast, kernels=contextlib.nullcontext):
    """The backward pass of each phase's loss on `batch` (a GAN's discriminator's and its generator's), the
    forward under `autocast` and `kernels()` (attention's choice of kernels)."""
    for phase in named_phases(model):
        with autocast, kernels():
            loss, _ = phase_loss(task, model, batch, phase)
        loss.backward()


def train_flops_per_sample(model: torch.nn.Module, task, batches: list[tuple], autocast) -> float:
    """FLOPs of one forward and backward pass per sample, over all of `batches` (per-sample FLOPs vary with the
    padded length of a batch), leaving no trace on the model: the gradients are cleared, buffers (BatchNorm
    statistics) and the random state are restored."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    recounted = {
        f"{type(model).__name__}.{n}": m
        for n, m in model.named_modules()
        if hook(m, "train_flops") or isinstance(m, torch.nn.RNNBase)
    }
    own_counts = []

    def count(module, inputs, _):
        own = rnn_train_flops(module, inputs) if isinstance(module, torch.nn.RNNBase) else module.train_flops(inputs[0])
        own_counts.append(own)

    handles = [m.register_forward_hook(count) for m in recounted.values()]
    counter = FlopCounterMode(display=False)
    with no_trace(model, batches[0][0].device), counter:
        for batch in batches:
            backward_every_phase(model, task, batch, autocast, lambda: sdpa_kernel(SDPBackend.MATH))
    for handle in handles:
        handle.remove()
    counts = counter.get_flop_counts()
    miscounted = sum(sum(counts.get(name, {}).values()) for name in recounted)
    return (counter.get_total_flops() - miscounted + sum(own_counts)) / sum(len(batch[0]) for batch in batches)


def peak_flops(
    device: torch.device, precision: str, record: Path = PEAK_RECORD, write: bool = True
) -> tuple[float, str]:
    """The device's peak FLOP/s and where it came from: the datasheet for known GPUs (TF32's when fp32 matmuls
    run on tensor cores, so that MFU cannot pass 100%; a MIG slice, a share of
    one, is measured instead); otherwise the best of a few timed matmuls, and of every earlier measurement on
    this machine kept in `record` (one measurement on a CPU halves when another process takes a core, and MFU
    curves must stay comparable across runs), which only the process that `write`s updates."""
    name = device_name(device)
    if device.type == "cuda" and "MIG" not in name:
        sheet = {}
        for (model, dtype), flops in PEAK_FLOPS.items():
            if model in name:
                sheet.setdefault(dtype, (model, flops))
        if precision == "fp32" and torch.get_float32_matmul_precision() != "highest" and "bf16" in sheet:
            model, flops = sheet["bf16"]  # TF32 on tensor cores (device.configure): half bf16's rate on these GPUs
            return flops / 2, f"{model} datasheet, tf32 (fp32 matmuls on tensor cores: half the bf16 peak)"
        if precision in sheet:
            model, flops = sheet[precision]
            return flops, f"{model} datasheet, {precision}"
    key = f"{name} ({device.type}), {torch.get_num_threads()} threads, {precision}"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    n = 4096 if device.type == "cuda" else 1024
    peak = max(2 * n**3 / fastest_matmul_s(device, torch.bfloat16 if precision == "bf16" else torch.float32, n),
               known.get(key, 0.0))  # fmt: skip
    if write and peak > known.get(key, 0.0):
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({**known, key: peak}, indent=2))
        except OSError:
            pass  # a read-only home: the measurement still serves this run
    return peak, f"best timed {n}x{n} {precision} matmul on this machine ({record})"


def fastest_matmul_s(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 5) -> float:
    """The fastest of `repeats` n x n matmuls after a warm-up, timed by CUDA events on a GPU (no host sync inside
    the timing), by the host clock elsewhere."""
    a = b = torch.ones(n, n, device=device, dtype=dtype)  # not randn: the training's random stream stays untouched
    (a @ b).sum().item()  # warm-up: kernels chosen, memory allocated
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1000)
        else:
            begin = time.perf_counter()
            (a @ b).sum().item()
            best = min(best, time.perf_counter() - begin)
    return best
