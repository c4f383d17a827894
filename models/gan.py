"""DCGAN: "Unsupervised Representation Learning with Deep Convolutional Generative Adversarial Networks", Radford
et al. 2015, trained as Goodfellow et al. 2014's "Generative Adversarial Nets" with its non-saturating loss.

- The game (Goodfellow et al., Eq. 1, Alg. 1): a discriminator D learns to tell training images from the generator
  G's; G learns to fool it. Each training step takes one step of D, then one of G, with optimizers of their own
  (the `phases` hook: the loop steps them in that order). D minimises -log D(x) - log(1 - D(G(z))); G minimises
  -log D(G(z)), the non-saturating loss of Sec. 3, whose gradient is strong early on, when D rejects G's samples
  with confidence.
- The architecture guidelines (Radford et al., Sec. 3): strided convolutions in D and fractional-strided
  (transposed) ones in G, no pooling and no fully connected hidden layers; batch norm in both, except at G's output
  and D's input; ReLU in G with a tanh output; LeakyReLU (slope 0.2) in D; weights from N(0, 0.02) (Sec. 4).
  Trained with Adam at 2e-4, beta_1 = 0.5 (Sec. 4; configs/recipe/dcgan_fashion_mnist_generation.yaml).
- Class-conditional (Mirza and Osindero 2014, "Conditional Generative Adversarial Nets"): the one-hot class joins
  z at G's input and stands as constant planes beside D's input image.

At 28x28 (Fashion-MNIST, MNIST): z (100) -> 7x7 -> 14x14 -> 28x28, and back down in D, as the paper's 64x64 layout
one level shorter. Sizes: dcgan_tiny (32 channels at the finest level of each network) for a CPU; dcgan_28 (64, as
the PyTorch DCGAN example's widths).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_model


def up(c_in: int, c_out: int) -> list[nn.Module]:
    """A fractional-strided convolution doubling the size, batch norm and ReLU (G's hidden layers)."""
    return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Generator(nn.Module):
    """G(z, c): (B, nz) noise and (B,) classes (or None) -> (B, C, 28, 28) in [-1, 1]."""

    def __init__(self, nz: int, ngf: int, in_chans: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(nz + num_classes, 4 * ngf, 7, bias=False),  # a 1x1 "image" of z -> 7x7
            nn.BatchNorm2d(4 * ngf),
            nn.ReLU(),
            *up(4 * ngf, 2 * ngf),  # 14x14
            nn.ConvTranspose2d(2 * ngf, in_chans, 4, stride=2, padding=1),  # 28x28, no batch norm at the output
            nn.Tanh(),
        )

    def edge_layers(self) -> set[str]:
        """The input and output layers: Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"layers.0", "layers.6"}

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return self.layers(z[:, :, None, None])


class Discriminator(nn.Module):
    """D(x, c): (B, C, 28, 28) images in [-1, 1] and (B,) classes (or None) -> (B,) logits of "real"."""

    def __init__(self, ndf: int, in_chans: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.layers = nn.Sequential(
            nn.Conv2d(in_chans + num_classes, ndf, 4, stride=2, padding=1),  # 14x14, no batch norm at the input
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, 2 * ndf, 4, stride=2, padding=1, bias=False),  # 7x7
            nn.BatchNorm2d(2 * ndf),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ndf, 1, 7),  # one logit: no fully connected layer
        )

    def edge_layers(self) -> set[str]:
        """The input and output layers: Muon leaves them to AdamW (Jordan et al. 2024)."""
        return {"layers.0", "layers.5"}

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.num_classes:
            planes = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], dim=1)
        return self.layers(x).flatten()


class DCGAN(nn.Module):
    """The generator and the discriminator, and the game's losses: forward(x in [-1, 1], labels, phase) is the
    phase's loss (without a phase, the discriminator's: the validation loss)."""

    T = 0  # a diffusion model's number of steps (the image generation task asks): none, G samples in one pass

    def __init__(self, *, in_chans: int = 1, image_size: int = 28, nz: int = 100, ngf: int = 32, ndf: int = 32,
                 num_classes: int = 0, conditional: bool = False):  # fmt: skip
        super().__init__()
        if image_size != 28:
            raise ValueError(f"DCGAN here draws 28x28 images, not {image_size}x{image_size}; set data.image_size=28")
        if conditional and num_classes < 2:
            raise ValueError(f"model.conditional=true needs data of 2 classes or more, not {num_classes}; set it false")
        self.in_chans, self.image_size, self.nz = in_chans, image_size, nz
        self.num_classes = num_classes if conditional else 0
        self.generator = Generator(nz, ngf, in_chans, self.num_classes)
        self.discriminator = Discriminator(ndf, in_chans, self.num_classes)
        for module in self.modules():  # Sec. 4: N(0, 0.02); batch norm's scale N(1, 0.02), as the reference code
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def phases(self) -> dict[str, nn.Module]:
        """Alg. 1: a step of the discriminator, then one of the generator, each with its own optimizer."""
        return {"discriminator": self.discriminator, "generator": self.generator}

    def edge_layers(self) -> set[str]:
        """The players' input and output layers (each player's optimizer asks the player itself)."""
        return {f"{name}.{edge}" for name, player in self.phases().items() for edge in player.edge_layers()}

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None, phase: str = "discriminator"
    ) -> torch.Tensor:
        labels = labels if self.num_classes else None
        fake = self.generator(torch.randn(len(x), self.nz, device=x.device, dtype=x.dtype), labels)
        fake_logits = self.discriminator(fake, labels)
        if phase == "generator":  # non-saturating: -log D(G(z))
            return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        if phase != "discriminator":
            raise ValueError(f"phase={phase!r}: a DCGAN's phases are 'discriminator' and 'generator'")
        # fake is not detached: under DDP every parameter then takes part in each backward; the generator's
        # gradients of this phase are dropped after the discriminator's step
        real_logits = self.discriminator(x, labels)
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """n images in [-1, 1] (n, C, H, W) from G, in one pass; of the classes `labels` (a conditional model
        without them: classes drawn at random)."""
        if steps is not None or guidance is not None:
            raise ValueError(
                f"steps={steps}, guidance={guidance}: a GAN samples in one pass, with neither; give None for both"
            )
        device = next(self.parameters()).device
        z = torch.randn(n, self.nz, generator=generator, device=device)
        if self.num_classes and labels is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator, device=device)
        return self.generator(z, labels.to(device) if self.num_classes else None)


@register_model(task="image_generation", input_size=(1, 28, 28))
def dcgan_tiny(**kwargs) -> DCGAN:
    return DCGAN(**({"ngf": 32, "ndf": 32} | kwargs))


@register_model(task="image_generation", input_size=(1, 28, 28))
def dcgan_28(**kwargs) -> DCGAN:
    return DCGAN(**({"ngf": 64, "ndf": 64} | kwargs))
