"""A monitor calibrated once per test session on synthetic rollouts (small RND so it trains in seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from policy_runtime.fiper.artifacts import MonitorArtifacts, policy_identity
from policy_runtime.fiper.calibrate import calibrate_monitor
from policy_runtime.fiper.rnd import RNDConfig
from policy_runtime.fiper.rollouts import TRAIN_EMBEDDINGS_FILE, load_rollouts, load_train_embeddings
from tests.fiper.synthetic import write_policy_bundle, write_rollouts_dir

SMALL_RND = RNDConfig(target_hidden=(64,), predictor_hidden=(64, 64, 64), out_dim=32, steps=250, batch_size=128)
WINDOW = 5
DELTA = 0.1
M = 10


@dataclass(frozen=True)
class Calibrated:
    rollouts_dir: Path
    policy_dir: Path
    monitor_dir: Path
    artifacts: MonitorArtifacts


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Calibrated:
    root = tmp_path_factory.mktemp("fiper")
    rollouts = write_rollouts_dir(root / "rollouts", M, seed=0)
    policy = write_policy_bundle(root / "policy")
    art = calibrate_monitor(
        load_train_embeddings(rollouts / TRAIN_EMBEDDINGS_FILE),
        load_rollouts(rollouts),
        policy_identity(policy),
        root / "monitor",
        delta=DELTA,
        window=WINDOW,
        rnd_config=SMALL_RND,
    )
    return Calibrated(rollouts, policy, root / "monitor", art)
