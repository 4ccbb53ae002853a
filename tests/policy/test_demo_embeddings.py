"""The monitor's in-distribution set: the bundle's own encoder on the training dataset's frames."""

from __future__ import annotations

import numpy as np
import pytest

from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.fiper.demo_features import demo_embeddings
from policy_runtime.training.dataset import load_dataset
from policy_runtime.training.synthetic import write_synthetic_dataset


def test_demo_embeddings_are_the_bundles_encoder_on_every_strided_frame(bundle_dir, dataset):
    emb = demo_embeddings(bundle_dir, dataset, stride=4, batch=7, progress=False)
    engine = PolicyEngine(str(bundle_dir))
    s = engine.bundle.shapes
    data = load_dataset(dataset, engine.cameras, tuple(s["image_size"]), "touch", s["horizon"], 2, s["obs_stride"])
    assert emb.shape == (len(range(0, len(data), 4)), s["emb_dim"])
    oi = data.obs_index[[0, 32]]  # frames 0 and 32 (rows 0 and 8 at stride 4), encoded directly
    ref = engine.encode_obs({c: data.images[c][oi] for c in engine.cameras}, data.proprio[oi], data.touch[oi])
    np.testing.assert_allclose(emb[[0, 8]], ref, atol=1e-5)
    assert np.all(np.isfinite(emb)) and np.ptp(emb, axis=0).max() > 1e-3  # it varies with the observation


def test_demo_embeddings_refuse_a_dataset_with_other_touch_features(bundle_dir, tmp_path):
    other = write_synthetic_dataset(tmp_path / "o.zarr", episodes=1, steps=40, touch_dim=15, seed=3)
    with pytest.raises(ValueError, match="touch has 15 features"):
        demo_embeddings(bundle_dir, other, progress=False)


def test_calibrate_from_demos_holds_the_shadow_episodes_out_of_rnd(bundle_dir, dataset, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from policy_runtime.fiper.artifacts import load_artifacts
    from policy_runtime.fiper.demo_features import demo_rollouts

    rollouts = demo_rollouts(bundle_dir, dataset, (2, 3), planner_stride=8, num_samples=4, progress=False)
    assert [r.length for r in rollouts] == [8, 8]  # 64 frames per episode, one planner step every 8
    c = rollouts[0].chunks
    assert c.shape == (8, 4, 32, 3) and np.ptp(c[:, :, 0], axis=1).max() > 0  # B samples that differ
    out = tmp_path / "monitor"
    cmd = [str(Path(sys.executable).parent / "rstack"), "fiper", "calibrate", "--from-demos", "2", "--dataset",
           str(dataset), "--policy", str(bundle_dir), "--out", str(out), "--delta", "0.34", "--window", "2",
           "--rnd-steps", "50", "--num-samples", "4"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    art = load_artifacts(out, bundle_dir)  # refused if it did not belong to this bundle
    assert art.num_rollouts == 2 and art.ace_num_samples == 4
    assert art.num_train_embeddings == 64  # episodes 0-1 only (128 frames at stride 2): 2-3 are held out
