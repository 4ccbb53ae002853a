"""Tactile: marker tracking on synthetic images with known fields, PCA, wrench features, video capture."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.tactile_reference import TactileReference, load_reference, save_reference
from hardware.tactile.capture import TactileCapture, VideoSource
from hardware.tactile.embedding import PCAEmbedding
from hardware.tactile.geometry import SENSOR_MODELS, grid_spec
from hardware.tactile.layout import layout_dims, stamp_from_labels
from hardware.tactile.synthetic import SyntheticTactile, combine, press, shear, twist
from hardware.tactile.tracker import MarkerTracker, ReferenceError
from hardware.tactile.wrench import WrenchFeatures

MINI = SENSOR_MODELS["gelsight_mini"]


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()))


@pytest.mark.parametrize(("width", "height"), [(320, 240), (640, 480)])
def test_recovers_known_displacement_fields(width: int, height: int) -> None:
    syn = SyntheticTactile(MINI, width, height)
    tracker = MarkerTracker(MINI, width)
    grid = tracker.capture_reference(syn.frame()[0])
    assert rms(grid, syn.reference_positions) < 0.1
    s, c = width / 320, (width / 2, height / 2)
    fields = [shear(2.5 * s, -1.5 * s), combine(press(c, 5 * s, 45 * s), twist(0.05, c))]
    for field in fields:
        for k in range(1, 7):  # the contact builds up over frames (beyond one half pitch in total for shear)
            img, truth = syn.frame(lambda p, k=k, field=field: field(p) * k / 3)
            flow = tracker.track(img)
            assert flow.missing == 0
            assert rms(flow.displacement, truth) < 0.5
        assert np.abs(truth).max() > 4 * s  # the field was not trivially small
        tracker.set_reference_positions(grid)


def test_a_hidden_marker_keeps_its_place_and_is_flagged() -> None:
    syn = SyntheticTactile(MINI)
    tracker = MarkerTracker(MINI, 320)
    tracker.capture_reference(syn.frame()[0])
    img, truth = syn.frame(shear(1.0, 0.5))
    x, y = tracker.reference[3, 4] + truth[3, 4]
    cv2.circle(img, (round(x), round(y)), 9, tuple(int(v) for v in img[int(y) + 12, int(x)]), -1)
    flow = tracker.track(img)
    assert flow.missing == 1 and not flow.found[3, 4] and flow.found.sum() == 62
    assert np.allclose(flow.displacement[3, 4], 0.0)  # last known displacement (none yet)
    others = np.ones((7, 9), bool)
    others[3, 4] = False
    assert rms(flow.displacement[others], truth[others]) < 0.5


def test_reference_with_the_wrong_grid_is_refused_with_counts() -> None:
    syn = SyntheticTactile(MINI)
    dense = MarkerTracker(SENSOR_MODELS["dense_11x14"], 320)
    with pytest.raises(ReferenceError, match=r"found \d+ markers, the grid has 11x14=154"):
        dense.capture_reference(syn.frame()[0])
    with pytest.raises(ReferenceError, match="no reference frame"):
        MarkerTracker(MINI, 320).track(syn.frame()[0])
    with pytest.raises(ValueError, match="width 320"):
        MarkerTracker(MINI, 320).capture_reference(np.zeros((480, 640, 3), np.uint8))


def test_grid_spec_from_yaml_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "my_gel.yaml"
    f.write_text("rows: 5\ncols: 6\npitch_frac: 0.12\nradius_frac: 0.02\n")
    spec = grid_spec(str(f))
    assert (spec.name, spec.rows, spec.cols) == ("my_gel", 5, 6)
    syn = SyntheticTactile(spec)
    assert MarkerTracker(spec, 320).capture_reference(syn.frame()[0]).shape == (5, 6, 2)
    with pytest.raises(ValueError, match="unknown tactile sensor model 'digit'"):
        grid_spec("digit")
    with pytest.raises(ValueError, match="unknown keys"):
        grid_spec({"rows": 3, "cols": 3, "pitch_frac": 0.1, "radius_frac": 0.01, "colour": 1})
    with pytest.raises(ValueError, match="radius_frac"):
        grid_spec({"rows": 3, "cols": 3, "pitch_frac": 0.1, "radius_frac": 0.2})


def random_fields(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos = MINI.nominal_positions(320, 240)
    out = []
    for _ in range(n):
        c = tuple(rng.uniform([100, 80], [220, 160]))
        f = combine(shear(*rng.normal(0, 1.5, 2)), press(c, rng.uniform(0, 4), 40), twist(rng.normal(0, 0.03), c))
        out.append(f(pos))
    return np.asarray(out, np.float32)


def test_pca_fit_save_load_and_whitening(tmp_path: Path) -> None:
    train = random_fields(200)
    pca = PCAEmbedding.fit(train, n_components=15, model="gelsight_mini")
    z = pca.transform(train)
    assert z.shape == (200, 15)
    assert np.allclose(z.std(axis=0, ddof=1), 1.0, atol=1e-3) and np.allclose(z.mean(axis=0), 0.0, atol=1e-3)
    assert pca.explained_variance_ratio > 0.95  # the fields live in a low-dimensional space
    loaded = PCAEmbedding.load(pca.save(tmp_path / "pca.npz"))
    assert np.allclose(loaded.transform(train[:5]), z[:5], atol=1e-5)
    assert loaded.transform(train[0]).shape == (15,)
    with pytest.raises(ValueError, match=r"does not match the embedding's grid \[7, 9, 2\]"):
        pca.transform(np.zeros((11, 14, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        pca.transform(np.full((7, 9, 2), np.nan))
    with pytest.raises(ValueError, match="more than 15 frames"):
        PCAEmbedding.fit(train[:10])
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a tactile PCA file"):
        PCAEmbedding.load(tmp_path / "other.npz")


def test_wrench_features_share_the_interface() -> None:
    wf = WrenchFeatures(scale=[10, 10, 20, 1, 1, 2])
    wf.tare([0.5, 0, -1, 0, 0, 0])
    assert np.allclose(wf.transform([10.5, -5, 19, 1, 0.5, -2]), [1, -0.5, 1, 1, 0.5, -1])
    with pytest.raises(ValueError, match="non-finite fz"):
        wf.transform([0, 0, float("nan"), 0, 0, 0])
    with pytest.raises(ValueError, match="6 values"):
        wf.transform([1, 2, 3])
    with pytest.raises(ValueError, match="scale"):
        WrenchFeatures([1, 1, 1, 1, 1, 0])


def test_layout_carries_the_stamp() -> None:
    dims = layout_dims((7, 9, 2), ["rows", "cols", "xy"], 1718000000.123456789)
    assert [(d[1], d[2]) for d in dims] == [(7, 126), (9, 18), (2, 2)]
    assert stamp_from_labels([d[0] for d in dims]) == pytest.approx(1718000000.123456789, abs=1e-6)
    assert stamp_from_labels(["rows", "cols"]) is None


def test_reference_storage_round_trip(tmp_path: Path) -> None:
    syn = SyntheticTactile(MINI)
    img, _ = syn.frame()
    grid = MarkerTracker(MINI, 320).capture_reference(img)
    save_reference(tmp_path, TactileReference("left", "gelsight_mini", img, grid, 123.0))
    ref = load_reference(tmp_path, "left")
    assert np.array_equal(ref.image, img) and np.allclose(ref.positions, grid, atol=1e-4)
    with pytest.raises(FileNotFoundError, match="'right'"):
        load_reference(tmp_path, "right")


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def test_video_file_as_source_and_its_end_does_not_stop_the_loop(tmp_path: Path) -> None:
    syn = SyntheticTactile(MINI)
    truth = [syn.frame(shear(0.4 * k, -0.2 * k)) for k in range(8)]
    path = write_video(tmp_path / "gel.avi", [t[0] for t in truth])
    tracker = MarkerTracker(MINI, 320)
    flows: list[np.ndarray] = []
    lock = threading.Lock()

    def on_frame(img: np.ndarray, stamp: float) -> None:
        with lock:
            if not tracker.has_reference:
                tracker.capture_reference(img)
            flows.append(tracker.track(img).displacement)

    cap = TactileCapture(VideoSource(str(path)), on_frame, fps=60.0, stale_after_s=0.1, retry_period_s=0.5).start()
    try:
        deadline = time.monotonic() + 20
        while cap.failures < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cap.failures == 1 and cap.last_error == "source ended"
        time.sleep(0.2)
        assert cap.stale() and cap.status()["connected"] is False
        with lock:
            first = flows[:8]
        assert len(first) == 8
        for flow, (_, disp) in zip(first, truth, strict=True):
            assert rms(flow, disp) < 0.5  # through a lossy MJPG file
        deadline = time.monotonic() + 20
        while cap.opens < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cap.opens == 2  # reopened after the end
    finally:
        cap.stop()
    with pytest.raises(Exception, match="no such device index"):
        VideoSource(str(tmp_path / "none.avi")).open()
