"""Training config: the shipped YAML equals the dataclass defaults; typos are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_runtime.training.config import TrainConfig, load_config


def test_default_yaml_matches_dataclass_defaults() -> None:
    assert load_config() == TrainConfig()


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("diffusion:\n  stepz: 10\n")
    with pytest.raises(ValueError, match=r"stepz"):
        load_config(p)


def test_override_keeps_other_defaults(tmp_path: Path) -> None:
    p = tmp_path / "cfg.yaml"
    p.write_text("diffusion:\n  steps: 7\nseed: 3\n")
    cfg = load_config(p)
    assert cfg.diffusion.steps == 7 and cfg.seed == 3
    assert cfg.diffusion.batch_size == TrainConfig().diffusion.batch_size
