"""RealSense driver through the real SDK: software_device frames, a recording played back, reconnects."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pyrealsense2 as rs
import pytest

from calibration.camera_intrinsics import from_yaml, to_yaml
from hardware.realsense import (
    CameraConfig,
    CameraNotFoundError,
    CameraSupervisor,
    DeviceLostError,
    PlaybackProvider,
    RealSenseCamera,
    StaticProvider,
)
from hardware.realsense.software import SoftwareCamera
from policy_runtime.obs_sync import ObsSync

W, H = 64, 48


def open_camera(sc: SoftwareCamera, depth: bool = True) -> RealSenseCamera:
    cam = RealSenseCamera(sc.device, CameraConfig(serial=sc.serial, width=W, height=H, fps=30, depth=depth))
    cam.start()
    return cam


def test_global_time_stamps_are_the_capture_time_and_gaps_count_as_drops() -> None:
    sc = SoftwareCamera("1001")
    cam = open_camera(sc)
    try:
        t0_ms = time.time() * 1e3 - 50
        numbers = [1, 2, 3, 6, 7]  # frames 4 and 5 never arrive
        out = []
        for n in numbers:
            sc.inject(n, t0_ms + n * 33.3, depth=np.full((H, W), 700 + n, np.uint16), domain="global_time")
            f = cam.read(2.0)
            assert f is not None
            out.append(f)
        assert [f.frame_number for f in out] == numbers
        for n, f in zip(numbers, out, strict=True):
            assert f.stamp_s == pytest.approx((t0_ms + n * 33.3) * 1e-3, abs=1e-6)
            assert f.domain == "global_time"
            assert f.color.shape == (H, W, 3) and int(f.color[0, 0, 0]) == n
            assert f.depth_mm is not None and int(f.depth_mm[H // 2, W // 2]) == 700 + n  # aligned to color
        assert cam.counters.dropped == 2 and cam.counters.frames == 5 and cam.counters.late == 0
    finally:
        cam.stop()


def test_hardware_clock_is_mapped_to_host_time_without_arrival_jitter() -> None:
    sc = SoftwareCamera("1002", depth=False)
    cam = open_camera(sc, depth=False)
    rng = np.random.default_rng(0)
    try:
        stamps, recv = [], []
        start = time.monotonic()
        for n in range(1, 31):
            # captured every 33.3 ms by the device clock (ms since power-up), delivered 0-10 ms later
            time.sleep(max(0.0, start + n * 0.0333 + float(rng.uniform(0.0, 0.01)) - time.monotonic()))
            sc.inject(n, 5000.0 + n * 33.3)
            f = cam.read(2.0)
            assert f is not None and f.domain == "hardware_clock"
            stamps.append(f.stamp_s)
            recv.append(time.time())
        d = np.diff(stamps)
        # spacing is the device clock's, not the arrival's (which varies by up to 10 ms);
        # the offset estimate only moves when a frame arrives faster than all before it
        assert np.median(d) == pytest.approx(0.0333, abs=5e-4)
        assert np.allclose(d[-10:], 0.0333, atol=3e-3)
        # and the stamps are host wall time, never after the frame was received
        assert all(s <= r + 1e-3 for s, r in zip(stamps, recv, strict=True))
        assert abs(stamps[-1] - recv[-1]) < 0.5
    finally:
        cam.stop()


def test_late_frames_are_counted() -> None:
    sc = SoftwareCamera("1003", depth=False)
    cam = open_camera(sc, depth=False)
    try:
        now_ms = time.time() * 1e3
        sc.inject(1, now_ms, domain="global_time")
        sc.inject(2, now_ms - 400, domain="global_time")  # captured 400 ms ago
        assert cam.read(2.0) is not None and cam.read(2.0) is not None
        assert cam.counters.late == 1
        assert cam.counters.resets == 0
    finally:
        cam.stop()


def test_intrinsics_from_the_sdk_round_trip_through_yaml(tmp_path: Path) -> None:
    sc = SoftwareCamera("1004", depth=False)
    cam = RealSenseCamera(sc.device, CameraConfig(width=W, height=H, fps=30))
    intr = cam.intrinsics
    assert (intr.width, intr.height) == (W, H)
    assert intr.fx == pytest.approx(sc.intrinsics.fx) and intr.ppy == pytest.approx(sc.intrinsics.ppy)
    assert intr.coeffs == pytest.approx(sc.intrinsics.coeffs, abs=1e-6)
    assert intr.distortion_model == "plumb_bob"
    back = from_yaml(to_yaml(intr, tmp_path / "cam.yaml", "wrist"))
    assert back == intr
    (tmp_path / "bad.yaml").write_text("image_width: 3\n")
    with pytest.raises(ValueError, match="not a camera calibration YAML"):
        from_yaml(tmp_path / "bad.yaml")


def test_unknown_serial_and_unknown_mode_name_what_is_there() -> None:
    a, b = SoftwareCamera("2001", depth=False), SoftwareCamera("2002", depth=False)
    provider = StaticProvider(lambda: [a.device, b.device])
    with pytest.raises(CameraNotFoundError, match=r"'9999' is not connected.*2001.*2002"):
        provider.open("9999")
    with pytest.raises(CameraNotFoundError, match="2 RealSense cameras connected"):
        provider.open("")
    assert provider.open("2002") is b.device
    with pytest.raises(ValueError, match=r"no color stream 1280x720@30 \(offered: 64x48@30 rgb8\)"):
        RealSenseCamera(a.device, CameraConfig(width=1280, height=720, fps=30))


def record(path: Path, serial: str, numbers: list[int], t0_ms: float) -> None:
    """Record frames of a software camera through the SDK's recorder."""
    sc = SoftwareCamera(serial)
    recorder = rs.recorder(str(path), sc.device)
    cam = open_camera(sc)
    start = time.monotonic()
    for n in numbers:  # delivered in real time, as a camera would
        time.sleep(max(0.0, start + (n - numbers[0]) * 0.0333 - time.monotonic()))
        sc.inject(n, t0_ms + n * 33.3, depth=np.full((H, W), 900 + n, np.uint16), domain="global_time")
        assert cam.read(2.0) is not None
    cam.stop()
    recorder.pause()
    del recorder


def test_recording_plays_back_through_the_same_driver(tmp_path: Path) -> None:
    path = tmp_path / "cam.db3"
    record(path, "3001", [1, 2, 3, 5, 6, 7], t0_ms=1_000_000.0)
    provider = PlaybackProvider(path, real_time=True)
    with pytest.raises(CameraNotFoundError, match=r"'42'.*3001"):
        provider.open("42")
    cam = RealSenseCamera(provider.open("3001"), CameraConfig(depth=True), playback=True)
    cam.start()
    frames = []
    try:
        with pytest.raises(DeviceLostError, match="recording ended"):
            for _ in range(50):
                f = cam.read(0.5)
                if f is not None:
                    frames.append(f)
    finally:
        cam.stop()
    assert [f.frame_number for f in frames] == [1, 2, 3, 5, 6, 7]
    assert cam.counters.dropped == 1
    assert [int(f.depth_mm[0, 0]) for f in frames] == [901, 902, 903, 905, 906, 907]
    assert [int(f.color[1, 1, 2]) for f in frames] == [1, 2, 3, 5, 6, 7]
    # history is replayed on the current clock, with the recorded spacing
    stamps = np.array([f.stamp_s for f in frames])
    assert abs(stamps[-1] - time.time()) < 2.0
    assert np.diff(stamps)[2] == pytest.approx(2 * 0.0333, abs=3e-3)


def test_missing_recording_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CameraNotFoundError, match="does not exist"):
        PlaybackProvider(tmp_path / "nope.db3").open("")


def test_unplug_goes_stale_then_reconnects_and_the_sync_buffer_sees_it() -> None:
    plugged: list = []
    stamps: list[float] = []
    sync = ObsSync(["camera"], max_age_s=0.2)
    sup_frames = threading.Event()

    def on_frame(frame, _cam) -> None:
        stamps.append(frame.stamp_s)
        sync.push("camera", frame.stamp_s, frame.frame_number)
        sup_frames.set()

    stop = threading.Event()

    def stream(sc: SoftwareCamera) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            sc.inject(n, time.time() * 1e3, domain="global_time")
            time.sleep(1 / 30)

    first = SoftwareCamera("4001", depth=False)
    plugged.append(first.device)
    sup = CameraSupervisor(
        StaticProvider(lambda: list(plugged)),
        CameraConfig(serial="4001", width=W, height=H, fps=30),
        on_frame,
        stale_after_s=0.15,
        reconnect_after_s=0.5,
        retry_period_s=0.1,
    ).start()
    feeder = threading.Thread(target=stream, args=(first,), daemon=True)
    feeder.start()
    try:
        assert sup_frames.wait(10.0)
        time.sleep(0.3)
        assert not sup.stale() and sync.query(time.time()).ok
        # unplug: frames stop and the device disappears
        stop.set()
        feeder.join()
        plugged.clear()
        time.sleep(0.3)
        assert sup.stale()
        r = sync.query(time.time())
        assert not r.ok and r.reason == "stale" and r.stale == ("camera",)
        deadline = time.monotonic() + 10
        while "not connected" not in sup.last_error and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "'4001' is not connected" in sup.last_error and sup.status()["connected"] is False
        # plug it back in (a fresh device with the same serial)
        n_before = len(stamps)
        second = SoftwareCamera("4001", depth=False)
        plugged.append(second.device)
        stop.clear()
        feeder = threading.Thread(target=stream, args=(second,), daemon=True)
        feeder.start()
        deadline = time.monotonic() + 10
        while len(stamps) < n_before + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(stamps) >= n_before + 5
        st = sup.status()
        assert st["reconnects"] == 1 and st["connected"] and not st["stale"]
        assert sync.query(time.time()).ok
    finally:
        stop.set()
        feeder.join()
        sup.stop()
