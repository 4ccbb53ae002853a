"""Training of the Reactive Diffusion Policy: config, zarr dataset, normalizer, trainer, checkpoints."""
