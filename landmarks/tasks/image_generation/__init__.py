"""Image generation: the diffusion model (Ho et al. 2020) learns a set of images; a Fréchet distance judges it."""
