"""DDPM: "Denoising Diffusion Probabilistic Models", Ho et al. 2020, with DDIM's deterministic sampler ("Denoising
Diffusion Implicit Models", Song et al. 2021), classifier-free guidance (Ho and Salimans 2022) and Improved DDPM's
cosine schedule (Nichol and Dhariwal 2021): the denoiser at the core of latent diffusion (Rombach et al. 2022,
Stable Diffusion), here on pixels.

- The forward process (Sec. 2, Eq. 4): q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), beta_t linear from
  1e-4 to 0.02 over T = 1000 steps (Sec. 4), or the cosine abar_t of Improved DDPM (Eq. 17, beta_t capped at 0.999).
- Training (Alg. 1): t uniform in 1..T, the network predicts the noise eps in x_t; L_simple = ||eps - eps_theta||^2.
  `forward(x_0, labels)` returns it, so that the loop (and DDP's gradient hooks) see one call.
- Ancestral sampling (Alg. 2): x_{t-1} = the posterior mean (Eq. 7) of x_t and the predicted x_0 (clipped to
  [-1, 1], as the released code does) plus sigma_t z, sigma_t^2 = beta~_t, the posterior variance.
- DDIM (Eq. 12 with eta = 0): x_t' = sqrt(abar_t') x0_hat + sqrt(1 - abar_t') eps_hat on S evenly spaced steps.
- Classifier-free guidance (Alg. 1, 2): in training a label becomes the null class with probability p_uncond;
  sampling mixes eps~ = (1 + w) eps(x_t, c) - w eps(x_t, null), w the guidance scale.
- The network (App. B): a U-Net of residual blocks (GroupNorm, SiLU, 3x3 convolutions, dropout) into which an MLP
  of the sinusoidal embedding of t (the Transformer's) is added, self-attention at the lowest resolutions, the
  halves joined by skip connections, the last convolution of each block zero-initialised; a class embedding is
  added to the time embedding.
- An exponential moving average of the weights samples (App. B: decay 0.9999; warmed up as min(decay,
  (1 + n) / (10 + n)) after n updates, so that a short run's average is not its initialisation).

Sizes: ddpm_tiny (16, 32 and 64 channels at 28, 14 and 7 pixels, a block a level, attention at 7x7) for a CPU;
ddpm_cifar10, the paper's CIFAR-10 network (128 channels x (1, 2, 2, 2), two blocks a level, attention at 16x16,
dropout 0.1: 36M here, 35.7M in the paper).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_model


def betas(schedule: str, T: int) -> torch.Tensor:
    """beta_1..beta_T (float32, index t-1): "linear" (Ho et al., Sec. 4) or "cosine" (Nichol and Dhariwal, Eq. 17)."""
    if schedule == "linear":
        return torch.linspace(1e-4, 0.02, T, dtype=torch.float32)
    if schedule == "cosine":
        abar = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        return torch.tensor([min(1 - abar(i + 1) / abar(i), 0.999) for i in range(T)], dtype=torch.float32)
    raise ValueError(f"model.schedule={schedule!r}: use linear (Ho et al.) or cosine (Nichol and Dhariwal)")


def sinusoidal(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The Transformer's position encoding of the timesteps t (B,) -> (B, dim), as DDPM embeds them."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / (half - 1))
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def zero(module: nn.Module) -> nn.Module:
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
    return module


class ResBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 conv, + the projected embedding, GroupNorm, SiLU, dropout, 3x3 conv (zero-initialised),
    added to the input (a 1x1 convolution where the channels change)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.dropout = nn.GroupNorm(groups, c_out), nn.Dropout(dropout)
        self.conv2 = zero(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(F.silu(emb))[:, :, None, None]
        return self.skip(x) + self.conv2(self.dropout(F.silu(self.norm2(h))))


class SelfAttention(nn.Module):
    """One head of self-attention over the pixels (App. B), its output projection zero-initialised."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm, self.qkv = nn.GroupNorm(groups, channels), nn.Conv2d(channels, 3 * channels, 1)
        self.out = zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (B, HW, C) each
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).view(B, C, H, W)
        return x + self.out(attended)


class Level(nn.Module):
    """The residual blocks (each followed by attention where asked) of one resolution, in one half of the U-Net."""

    def __init__(self, channels_in: list[int], c_out: int, emb_dim: int, attention: bool, dropout: float, groups):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c, c_out, emb_dim, dropout, groups) for c in channels_in)
        self.attention = nn.ModuleList(
            SelfAttention(c_out, groups) if attention else nn.Identity() for _ in channels_in
        )


class UNet(nn.Module):
    """eps_theta(x_t, t, c): (B, C, H, W), (B,) timesteps, (B,) class ids or None -> (B, C, H, W)."""

    def __init__(self, *, in_chans: int, channels: tuple[int, ...], blocks: int, attention: tuple[bool, ...],
                 dropout: float, num_classes: int, groups: int):  # fmt: skip
        super().__init__()
        emb_dim = 4 * channels[0]
        self.time = nn.Sequential(nn.Linear(channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None  # the last id: null
        self.stem = nn.Conv2d(in_chans, channels[0], 3, padding=1)
        skips, c = [channels[0]], channels[0]  # what each down block leaves for the up path
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, width in enumerate(channels):
            self.down.append(Level([c] + [width] * (blocks - 1), width, emb_dim, attention[i], dropout, groups))
            c = width
            skips += [width] * blocks
            last = i == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))
            skips += [] if last else [c]
        self.middle = Level([c, c], c, emb_dim, True, dropout, groups)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, width in reversed(list(enumerate(channels))):
            ins = []
            for _ in range(blocks + 1):
                ins.append(c + skips.pop())
                c = width
            self.up.append(Level(ins, width, emb_dim, attention[i], dropout, groups))
            self.upsample.append(nn.Conv2d(c, c, 3, padding=1) if i else nn.Identity())
        self.head = nn.Sequential(nn.GroupNorm(groups, c), nn.SiLU(), zero(nn.Conv2d(c, in_chans, 3, padding=1)))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time(sinusoidal(t, self.stem.out_channels))
        if self.label is not None:
            emb = emb + self.label(labels)
        h = self.stem(x)
        skips = [h]
        for level, downsample in zip(self.down, self.downsample):
            for block, attention in zip(level.blocks, level.attention):
                h = attention(block(h, emb))
                skips.append(h)
            if not isinstance(downsample, nn.Identity):
                h = downsample(h)
                skips.append(h)
        for block, attention in zip(self.middle.blocks, self.middle.attention):
            h = attention(block(h, emb))
        for level, upsample in zip(self.up, self.upsample):
            for block, attention in zip(level.blocks, level.attention):
                h = attention(block(torch.cat([h, skips.pop()], dim=1), emb))
            if not isinstance(upsample, nn.Identity):
                h = upsample(F.interpolate(h, size=skips[-1].shape[-2:], mode="nearest"))
        return self.head(h)


class EMA(nn.Module):
    """An exponential moving average of a module's parameters, held as buffers (no optimizer sees them; the
    checkpoint and the shared weights carry them)."""

    def __init__(self, module: nn.Module, decay: float):
        super().__init__()
        self.decay, self.names = decay, [name for name, _ in module.named_parameters()]
        for name, parameter in module.named_parameters():
            self.register_buffer(name.replace(".", "__"), parameter.detach().clone())
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates.item()) / (10 + self.updates.item()))
        for name, parameter in module.named_parameters():
            getattr(self, name.replace(".", "__")).lerp_(parameter.detach(), 1 - decay)
        self.updates += 1

    def weights(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name.replace(".", "__")) for name in self.names}


class DDPM(nn.Module):
    """The diffusion model: the noise schedule, the U-Net eps_theta and its average. forward(x_0 in [-1, 1], labels)
    is Alg. 1's loss; `sample` runs Alg. 2 (steps=None) or DDIM (steps=S), with guidance w for a class-conditional
    model."""

    def __init__(self, *, in_chans: int = 1, image_size: int = 28, channels: tuple[int, ...] = (16, 32, 64),
                 blocks: int = 1, attention: tuple[bool, ...] = (False, False, True), dropout: float = 0.1,
                 T: int = 1000, schedule: str = "linear", num_classes: int = 0, conditional: bool = False,
                 p_uncond: float = 0.1, ema_decay: float = 0.9999, groups: int = 8):  # fmt: skip
        super().__init__()
        if len(attention) != len(channels):
            raise ValueError(
                f"model.attention has {len(attention)} entries for {len(channels)} levels; give one a level"
            )
        if conditional and num_classes < 2:
            raise ValueError(f"model.conditional=true needs data of 2 classes or more, not {num_classes}; set it false")
        num_classes = num_classes if conditional else 0  # 0: unconditional, the label ignored
        self.in_chans, self.image_size, self.T, self.num_classes, self.p_uncond = (
            in_chans, image_size, T, num_classes, p_uncond,
        )  # fmt: skip
        self.register_buffer("betas", betas(schedule, T), persistent=False)
        self.register_buffer("alphas_cumprod", torch.cumprod(1 - self.betas, dim=0), persistent=False)
        self.unet = UNet(in_chans=in_chans, channels=tuple(channels), blocks=blocks, attention=tuple(attention),
                         dropout=dropout, num_classes=num_classes, groups=groups)  # fmt: skip
        self.ema = EMA(self.unet, ema_decay)

    def edge_layers(self) -> set[str]:
        """The input and output layers (module names), the time embedding's MLP among them: Muon leaves them to AdamW
        (Jordan et al. 2024)."""
        return {"unet.stem", "unet.time", "unet.head"} | ({"unet.label"} if self.num_classes else set())

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t ~ q(x_t | x_0) (Eq. 4) for timesteps t (B,) in 0..T-1 (the paper's t - 1, as diffusers counts)."""
        abar = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def forward(self, x0: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """L_simple (Alg. 1) for a batch of images in [-1, 1]; a label becomes the null class with p_uncond."""
        t = torch.randint(0, self.T, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        if self.num_classes and self.training:
            dropped = torch.rand(len(x0), device=x0.device) < self.p_uncond
            labels = torch.where(dropped, self.num_classes, labels)
        return F.mse_loss(self.unet(self.add_noise(x0, noise, t), t, labels if self.num_classes else None), noise)

    def after_step(self) -> None:
        self.ema.update(self.unet)

    def predicted_x0(self, eps: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        abar = self.abar(t)
        return ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-1, 1)

    def abar(self, t: int) -> torch.Tensor:
        """abar_t, and 1 before the first step (t < 0: the clean image)."""
        return self.alphas_cumprod[t] if t >= 0 else self.alphas_cumprod.new_ones(())

    def ddpm_step(self, eps: torch.Tensor, t: int, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x_{t-1} of Alg. 2: the posterior mean (Eq. 7) from the clipped x0_hat and x_t, plus sqrt(beta~_t) z (none
        at the last step); alpha_t computed as abar_t / abar_{t-1}, as diffusers does."""
        abar, abar_prev = self.abar(t), self.abar(t - 1)
        alpha = abar / abar_prev
        beta = 1 - alpha
        mean = (abar_prev.sqrt() * beta) / (1 - abar) * self.predicted_x0(eps, t, x) + alpha.sqrt() * (
            1 - abar_prev
        ) / (1 - abar) * x
        variance = ((1 - abar_prev) / (1 - abar) * beta).clamp(min=1e-20)  # beta~_t
        return mean + variance.sqrt() * z if t > 0 else mean

    def ddim_step(self, eps: torch.Tensor, t: int, t_prev: int, x: torch.Tensor) -> torch.Tensor:
        """x_{t_prev} of DDIM (Eq. 12, eta = 0) from the clipped x0_hat and eps; t_prev < 0 is the clean image."""
        abar_prev = self.abar(t_prev)
        return abar_prev.sqrt() * self.predicted_x0(eps, t, x) + (1 - abar_prev).sqrt() * eps

    def timesteps(self, steps: int | None) -> list[int]:
        """The sampler's timesteps, T-1 down to 0 (Alg. 2), or DDIM's S evenly spaced (diffusers' "leading")."""
        if steps is None:
            return list(range(self.T - 1, -1, -1))
        if not 1 <= steps <= self.T:
            raise ValueError(
                f"steps={steps}: a DDIM sampler takes 1 to the {self.T} training steps; or None for DDPM's"
            )
        return list(range(0, self.T, self.T // steps))[:steps][::-1]

    def eps(self, x: torch.Tensor, t: int, labels: torch.Tensor | None, guidance: float | None) -> torch.Tensor:
        """The averaged network's noise prediction at timestep t; guided, (1 + w) eps(x, c) - w eps(x, null) from
        one call on both halves."""
        if guidance:
            x, labels = torch.cat([x, x]), torch.cat([labels, torch.full_like(labels, self.num_classes)])
        timesteps = torch.full((len(x),), t, device=x.device)
        eps = torch.func.functional_call(self.unet, self.ema.weights(), (x, timesteps, labels))
        if not guidance:
            return eps
        conditional, unconditional = eps.chunk(2)
        return (1 + guidance) * conditional - guidance * unconditional

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
        every: int | None = None,
    ):
        """n images in [-1, 1] (n, C, H, W) of the classes `labels` (None: unconditional, or the null class of a
        conditional model); with `every`, also the images after every `every`-th sampling step (the strip)."""
        device, shape = self.betas.device, (n, self.in_chans, self.image_size, self.image_size)
        if guidance and not self.num_classes:
            raise ValueError(f"guidance={guidance} needs a class-conditional model (model.conditional=true); drop it")
        if self.num_classes:
            labels = torch.full((n,), self.num_classes, device=device) if labels is None else labels.to(device)
        x, timesteps, strip = torch.randn(shape, generator=generator, device=device), self.timesteps(steps), []
        for i, t in enumerate(timesteps):
            eps = self.eps(x, t, labels, guidance)
            if steps is None:
                x = self.ddpm_step(eps, t, x, torch.randn(shape, generator=generator, device=device))
            else:
                x = self.ddim_step(eps, t, timesteps[i + 1] if i + 1 < len(timesteps) else -1, x)
            if every and (i + 1) % every == 0:
                strip.append(x)
        return (x, strip) if every else x


@register_model(task="image_generation", input_size=(1, 28, 28))
def ddpm_tiny(**kwargs) -> DDPM:
    sizes = {"channels": (16, 32, 64), "blocks": 1, "attention": (False, False, True), "dropout": 0.1}
    return DDPM(**(sizes | kwargs))


@register_model(task="image_generation", input_size=(3, 32, 32))
def ddpm_cifar10(**kwargs) -> DDPM:
    sizes = {"channels": (128, 256, 256, 256), "blocks": 2, "attention": (False, True, False, False), "dropout": 0.1}
    return DDPM(**(sizes | {"in_chans": 3, "image_size": 32, "groups": 32} | kwargs))
