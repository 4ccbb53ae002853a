"""Monitor artifacts: round trip, thresholds as calibrated, and refusal of a mismatched pair."""

import json
import shutil

import numpy as np
import pytest

from policy_runtime.fiper.artifacts import (
    MONITOR_JSON,
    RND_ONNX,
    ArtifactError,
    load_artifacts,
    policy_identity,
    save_artifacts,
)
from policy_runtime.fiper.calibrate import ace_series, calibrate_monitor
from policy_runtime.fiper.conformal import band_thresholds, conformal_rank
from policy_runtime.fiper.rollouts import TRAIN_EMBEDDINGS_FILE, load_rollouts, load_train_embeddings, save_rollout
from policy_runtime.fiper.window import windowed_sums
from tests.fiper.conftest import DELTA, SMALL_RND, WINDOW, M
from tests.fiper.synthetic import B, D, H, in_dist_embeddings, rollout, write_policy_bundle


def _copy_monitor(calibrated, tmp_path):
    dst = tmp_path / "monitor"
    shutil.copytree(calibrated.monitor_dir, dst)
    return dst


def test_round_trip_keeps_every_field(calibrated, tmp_path):
    art = load_artifacts(calibrated.monitor_dir, calibrated.policy_dir)
    assert art == calibrated.artifacts
    assert (art.embedding_dim, art.ace_num_samples, art.ace_horizon) == (D, B, H)
    assert (art.num_rollouts, art.delta, art.window, art.ace_cell_fraction) == (M, DELTA, WINDOW, 0.03)
    again = save_artifacts(art, tmp_path / "copy", art.rnd_path)
    assert load_artifacts(tmp_path / "copy") == again
    assert again.to_json() == art.to_json()
    meta = json.loads((calibrated.monitor_dir / MONITOR_JSON).read_text())
    assert meta["schema_version"] == 1 and meta["policy"]["fingerprint"].startswith("sha256:")


def test_thresholds_are_the_conformal_quantile_of_rollout_maxima(calibrated):
    art = calibrated.artifacts
    k = conformal_rank(M, DELTA)
    for t in (art.rnd, art.ace):
        assert len(t.rollout_maxima) == M
        assert t.constant == sorted(t.rollout_maxima)[k - 1]
        assert max(t.time_varying) <= t.constant + 1e-12
    rng_range = np.asarray(art.ace_calibration_range)
    np.testing.assert_allclose(art.ace_cell_size, np.maximum(0.03 * rng_range, 1e-4))


def test_monitor_for_another_policy_is_refused(calibrated, tmp_path):
    other = write_policy_bundle(tmp_path / "other_policy", tag="retrained")
    with pytest.raises(ArtifactError, match=r"calibrated for policy sha256:.*re-run `rstack fiper calibrate`"):
        load_artifacts(calibrated.monitor_dir, other)
    wider = write_policy_bundle(tmp_path / "wider_policy", d=D + 8)
    with pytest.raises(ArtifactError, match=f"expects embedding dim {D}, but .* declares {D + 8}"):
        load_artifacts(calibrated.monitor_dir, wider)


def test_monitor_stored_inside_its_bundle_keeps_the_fingerprint(calibrated, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(calibrated.policy_dir, bundle)
    before = policy_identity(bundle)
    shutil.copytree(calibrated.monitor_dir, bundle / "monitor")
    assert policy_identity(bundle) == before
    (bundle / "policy.json").write_text(json.dumps({"embedding_dim": D, "created_unix": 123.0}))
    assert policy_identity(bundle) == before  # same graphs, re-written manifest: the same policy
    assert load_artifacts(bundle / "monitor", bundle).policy == before


def test_corrupt_or_edited_artifacts_are_refused(calibrated, tmp_path):
    mon = _copy_monitor(calibrated, tmp_path)
    onnx = mon / RND_ONNX
    onnx.write_bytes(onnx.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match=r"rnd.onnx does not match .*truncated, edited"):
        load_artifacts(mon)

    mon = _copy_monitor(calibrated, tmp_path / "v")
    meta = json.loads((mon / MONITOR_JSON).read_text())
    meta["schema_version"] = 99
    (mon / MONITOR_JSON).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="schema version 99"):
        load_artifacts(mon)
    meta["schema_version"] = 1
    meta["thresholds"]["ace"]["constant"] = float("nan")
    (mon / MONITOR_JSON).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="ace thresholds contain non-finite"):
        load_artifacts(mon)
    del meta["ace"]
    (mon / MONITOR_JSON).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="missing or has a malformed field"):
        load_artifacts(mon)
    (mon / MONITOR_JSON).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifacts(mon)
    with pytest.raises(ArtifactError, match=r"has no fiper_monitor.json"):
        load_artifacts(tmp_path / "nowhere")


def test_calibration_refuses_bad_input_before_training(calibrated, tmp_path):
    train = load_train_embeddings(calibrated.rollouts_dir / TRAIN_EMBEDDINGS_FILE)
    rollouts = load_rollouts(calibrated.rollouts_dir)
    ident = policy_identity(calibrated.policy_dir)
    with pytest.raises(ValueError, match=r"10 calibration rollouts cannot .* delta=0.05"):
        calibrate_monitor(train, rollouts, ident, tmp_path / "m", delta=0.05)
    with pytest.raises(ValueError, match=f"dimension {D}, the policy declares {D + 8}"):
        calibrate_monitor(train, rollouts, policy_identity(write_policy_bundle(tmp_path / "p", d=D + 8)), tmp_path)
    with pytest.raises(ValueError, match="training-demo embeddings have dimension 5"):
        calibrate_monitor(train[:, :5], rollouts, ident, tmp_path / "m")


def test_rollout_format_errors_name_the_file(tmp_path):
    rng = np.random.default_rng(0)
    emb, ch = rollout(rng, 6)
    save_rollout(tmp_path / "a.npz", emb, ch)
    save_rollout(tmp_path / "b.npz", emb, ch[:, :, :4])  # another horizon
    with pytest.raises(ValueError, match=r"rollout b.npz has \(D, B, H\) = \(16, 32, 4\)"):
        load_rollouts(tmp_path)
    (tmp_path / "b.npz").unlink()
    save_rollout(tmp_path / "c.npz", emb, ch, success=False)
    with pytest.raises(ValueError, match=r"c.npz is marked unsuccessful"):
        load_rollouts(tmp_path)
    (tmp_path / "c.npz").unlink()
    np.savez(tmp_path / "d.npz", embedding=in_dist_embeddings(3, rng))
    with pytest.raises(ValueError, match=r"d.npz lacks \['chunks'\]"):
        load_rollouts(tmp_path)


def test_a_band_calibration_is_saved_and_becomes_the_default_threshold(calibrated, tmp_path):
    rollouts = load_rollouts(calibrated.rollouts_dir)
    art = calibrate_monitor(
        load_train_embeddings(calibrated.rollouts_dir / TRAIN_EMBEDDINGS_FILE),
        rollouts,
        policy_identity(calibrated.policy_dir),
        tmp_path / "band",
        delta=DELTA,
        window=WINDOW,
        rnd_config=SMALL_RND,
        thresholds="band",
    )
    assert load_artifacts(tmp_path / "band") == art
    ace = [windowed_sums(ace_series(r.chunks, np.asarray(art.ace_cell_size)), WINDOW) for r in rollouts]
    np.testing.assert_allclose(art.ace.band, band_thresholds(ace, DELTA))
    n = len(art.ace.band)
    assert [art.ace.at(i, False) for i in (0, n - 1, n + 5)] == [art.ace.band[0], art.ace.band[-1], art.ace.band[-1]]
    assert art.ace.at(0, True) == art.ace.time_varying[0]  # per-step thresholds still override on request
    assert not calibrated.artifacts.ace.band  # a constant calibration has no band: at() gives the constant
    assert calibrated.artifacts.ace.at(3, False) == calibrated.artifacts.ace.constant
    with pytest.raises(ValueError, match="thresholds must be one of constant, band"):
        calibrate_monitor(np.zeros((4, D)), rollouts, policy_identity(calibrated.policy_dir), tmp_path / "x",
                          thresholds="bands")  # fmt: skip
