"""The bundled default policy (what `make demo` runs): complete, consistent with its monitor, small."""

from __future__ import annotations

from policy_runtime.engine.bundle import DEFAULT_BUNDLE, load_bundle
from policy_runtime.fiper.artifacts import load_artifacts

MAX_BUNDLE_BYTES = 20 * 2**20


def test_bundled_policy_loads_matches_its_monitor_and_fits_the_size_budget():
    bundle = load_bundle(DEFAULT_BUNDLE)  # sizes, sha256 and every graph's I/O in onnxruntime
    monitor = load_artifacts(DEFAULT_BUNDLE / "monitor", DEFAULT_BUNDLE)  # refuses a monitor of another policy
    assert monitor.embedding_dim == int(bundle.shapes["emb_dim"])
    assert monitor.ace_horizon == int(bundle.shapes["horizon"])
    total = sum(p.stat().st_size for p in DEFAULT_BUNDLE.rglob("*") if p.is_file())
    assert total <= MAX_BUNDLE_BYTES, f"bundle is {total / 2**20:.1f} MB"
    assert set(bundle.cameras) == {"external", "wrist"}, "the sim profile's cameras, which make demo feeds it"
