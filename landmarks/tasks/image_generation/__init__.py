"""Image generation: a GAN (Goodfellow et al. 2014) or a diffusion model (Ho et al. 2020) learns a set of images; a
Fréchet distance judges its samples."""
