"""Diffusion schedules (diffusers), the per-position DDIM step and samplers (numpy), training noise regimes.

`ddim` and `sampling` are numpy-only so the ONNX runtime path needs neither torch nor diffusers.
"""
