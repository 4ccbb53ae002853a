"""The monitor's in-distribution set: the bundle's own encoder on the training dataset's frames."""

from __future__ import annotations

import numpy as np
import pytest

from policy_runtime.engine.policy_engine import PolicyEngine
from policy_runtime.fiper.train_embeddings import demo_embeddings
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
