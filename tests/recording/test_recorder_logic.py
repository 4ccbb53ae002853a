"""The recorder's ROS-free logic with real files: low disk, refused starts, recovery at any crash point."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from mcap.reader import make_reader

from policy_runtime.datasets.episode_read import episode_summary
from policy_runtime.datasets.index import load_index
from policy_runtime.datasets.recorder import Recorder, RecorderConfig, RecorderError, TopicSpec
from policy_runtime.datasets.recovery import recover_partial

pytestmark = pytest.mark.ros  # messages are serialized with rclpy, as the middleware would

CAM = TopicSpec("/camera/external/image_raw", "sensor_msgs/msg/Image")
POSE = TopicSpec("/franka/ee_pose", "geometry_msgs/msg/PoseStamped")


def image_cdr(i: int, size: int = 64) -> bytes:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    m = Image(height=size, width=size, encoding="rgb8", step=3 * size, data=bytes([i % 256]) * (3 * size * size))
    m.header.stamp.sec, m.header.frame_id = 1000 + i, str(i)
    return serialize_message(m)


def pose_cdr(i: int) -> bytes:
    from geometry_msgs.msg import PoseStamped
    from rclpy.serialization import serialize_message

    m = PoseStamped()
    m.header.stamp.sec = 1000 + i
    m.pose.position.x = float(i)
    return serialize_message(m)


class FakeDisk:
    """An injectable free-space probe: the test sets what the disk reports."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, path: Path) -> int:
        return self.free


def wait_until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def make(tmp: Path, disk: FakeDisk, **kw) -> Recorder:
    cfg = RecorderConfig(tmp, [CAM, POSE], min_free_bytes=1000, stop_free_bytes=500, disk_check_period_s=0.02, **kw)
    return Recorder(cfg, free_bytes=disk)


def offer(rec: Recorder, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        now = time.time_ns()
        rec.offer(CAM.name, image_cdr(i), now, now, i + 1)
        rec.offer(POSE.name, pose_cdr(i), now + 1, now + 1, i + 1)


def test_low_disk_mid_episode_finalizes_cleanly_and_blocks_the_next_start(tmp_path: Path) -> None:
    disk = FakeDisk(10_000)
    rec = make(tmp_path, disk)
    try:
        eid = rec.start({"seed": 1})
        offer(rec, 40)
        wait_until(lambda: rec.status()["counts"][CAM.name] == 40)
        disk.free = 400  # below stop_free_bytes
        wait_until(lambda: rec.status()["state"] == "idle")
        with pytest.raises(RecorderError, match=r"refusing to start: only 0\.00 GB free"):
            rec.start()
        with pytest.raises(RecorderError, match="no episode is recording"):
            rec.stop("success")
    finally:
        rec.close()
    entry = load_index(tmp_path).episodes[eid]
    assert (entry["status"], entry["outcome"], entry["stop_reason"]) == ("complete", "unlabeled", "low_disk")
    assert entry["counts"] == {CAM.name: 40, POSE.name: 40}
    with open(tmp_path / entry["file"], "rb") as f:
        summary = make_reader(f).get_summary()
    assert sum(summary.statistics.channel_message_counts.values()) == 80
    assert episode_summary(tmp_path / entry["file"])["stop_reason"] == "low_disk"
    assert len(load_index(tmp_path).episodes) == 1, "the refused start left no entry"


def test_start_refused_below_threshold_and_a_second_start_while_recording(tmp_path: Path) -> None:
    disk = FakeDisk(999)
    rec = make(tmp_path, disk)
    try:
        with pytest.raises(RecorderError, match=r"refusing to start.*min_free_gb"):
            rec.start()
        disk.free = 10_000
        eid = rec.start()
        with pytest.raises(RecorderError, match=f"episode {eid} is still recording"):
            rec.start()
        offer(rec, 3)
    finally:
        rec.close()  # an open episode is finalized on shutdown, never lost
    entry = load_index(tmp_path).episodes[eid]
    assert (entry["outcome"], entry["stop_reason"], entry["counts"][CAM.name]) == ("unlabeled", "shutdown", 3)
    assert not list((tmp_path / ".recording").iterdir())


def test_a_directory_has_one_recorder(tmp_path: Path) -> None:
    rec = make(tmp_path, FakeDisk(10_000))
    try:
        with pytest.raises(RecorderError, match="in use by another recorder"):
            make(tmp_path, FakeDisk(10_000))
    finally:
        rec.close()


@pytest.mark.parametrize("fraction", [0.05, 0.37, 0.62, 0.93])
def test_recovery_keeps_every_whole_chunk_at_any_crash_point(tmp_path: Path, fraction: float) -> None:
    src_dir = tmp_path / "src"
    rec = make(src_dir, FakeDisk(10_000), chunk_size=4096)
    try:
        eid = rec.start()
        offer(rec, 60)
        entry = rec.stop("success")
    finally:
        rec.close()
    full = src_dir / entry["file"]
    with open(full, "rb") as f:
        summary = make_reader(f).get_summary()
    size = full.stat().st_size
    cut = int(fraction * summary.chunk_indexes[-1].chunk_start_offset) + 7  # mid-record, inside the data
    whole = [c for c in summary.chunk_indexes if c.chunk_start_offset + c.chunk_length <= cut]
    partial = tmp_path / "crashed.part"
    partial.write_bytes(full.read_bytes()[:cut])
    out = tmp_path / f"{eid}.incomplete.mcap"
    res = recover_partial(partial, out, lambda r: {"status": "incomplete"})
    assert cut < size
    with open(out, "rb") as f:
        reader = make_reader(f)
        got = [(ch.topic, m.log_time, m.data) for _, ch, m in reader.iter_messages(log_time_order=False)]
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
    with open(full, "rb") as f:
        expected = [(ch.topic, m.log_time, m.data) for _, ch, m in make_reader(f).iter_messages(log_time_order=False)]
    # every message of every chunk completely on disk is recovered, byte for byte; the torn chunk is lost
    last_whole = whole[-1].message_end_time if whole else -1
    assert got == [e for e in expected if e[1] <= last_whole]
    assert sum(res.counts.values()) == len(got) and (len(got) > 0) == bool(whole)
    assert meta["episode"]["status"] == "incomplete" and meta["episode_start"]["id"] == eid
    shutil.rmtree(src_dir)
