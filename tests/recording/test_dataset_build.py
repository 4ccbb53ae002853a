"""`rstack dataset build` / `report` on episodes recorded through ROS by the session fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

from rstack.cli import main as rstack

from .conftest import Session

pytestmark = pytest.mark.ros

# 0.15 s: 2.2 periods of the 15 Hz cameras. The publisher runs in this (long-lived, GC-heavy) test process, which
# can pause ~100 ms on a busy 2-core machine; the silenced wrist camera (0.8 s) is still far beyond it.
RATE, SKEW = 10.0, 0.15


@pytest.fixture(scope="module")
def built(session: Session, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("dataset") / "wipe.zarr"
    args = ["dataset", "build", "--episodes", str(session.root), "--out", str(out)]
    code = rstack([*args, "--rate", str(RATE), "--max-skew", str(SKEW)])
    return out, code, ""


def test_build_shapes_episode_ends_and_skew_bound(session: Session, built: tuple[Path, int, str]) -> None:
    out, code, _ = built
    assert code == 0
    ids = sorted(session.published)
    good, dropped_cam, failure = ids
    root = zarr.open_group(str(out), mode="r")
    assert root.attrs["episodes"] == [good], "the flagged episode and the failure are left out"
    ends = root["meta/episode_ends"][:]
    t = ends[-1]
    assert ends.dtype == np.int64 and list(ends) == [t]
    assert 20 <= t <= 26  # 2.5 s at 10 Hz, minus the time until every stream has a sample
    data = root["data"]
    shapes = {k: data[k].shape for k in data.array_keys()}
    assert shapes == {
        "action": (t, 8),
        "tcp_pose": (t, 7),
        "gripper_width": (t, 1),
        "wrench": (t, 6),
        "touch": (t, 15),
        "img_external": (t, 120, 160, 3),
        "img_wrist": (t, 120, 160, 3),
        "timestamp": (t,),
    }
    assert data["img_external"].dtype == np.uint8 and data["action"].dtype == np.float32
    assert np.allclose(np.diff(data["timestamp"][:]), 1 / RATE)
    assert np.all(data["wrench"][:, 2] == 1.0) and np.all(data["touch"][:] == 1.0)  # marker of episode 1
    assert np.allclose(data["gripper_width"][:], 0.08)
    width_cmd = data["action"][:, 7]
    assert np.all(np.isclose(width_cmd, 0.05) | np.isclose(width_cmd, 0.08))  # commanded, or measured before
    assert width_cmd[-1] == pytest.approx(0.05)
    assert np.allclose(data["action"][:, 6], 1.0)  # target quaternion w
    for cam in ("external", "wrist"):
        frames = data[f"img_{cam}"][:]
        assert np.all(frames == frames[:, :1, :1, :1]), "each frame is one uniform image from the recording"
        assert np.all(np.diff(frames[:, 0, 0, 0].astype(int)) >= 0), "frames advance with time"
    report = {r["id"]: r for r in root.attrs["sync_report"]}
    assert report[good]["skew_ms"]["max"] <= SKEW * 1e3 and not report[good]["flags"]
    assert report[good]["included"] and not report[dropped_cam]["included"]
    assert any("img_wrist" in f for f in report[dropped_cam]["flags"]), report[dropped_cam]["flags"]
    assert failure not in report, "only successes are selected by default"


def test_keep_flagged_and_outcomes_and_no_overwrite(
    session: Session, built: tuple[Path, int, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, _, _ = built
    args = ["dataset", "build", "--episodes", str(session.root), "--rate", str(RATE), "--max-skew", str(SKEW)]
    before = sorted(p.name for p in out.rglob("*"))
    assert rstack([*args, "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before, "an existing dataset is left untouched"
    out2 = tmp_path / "all.zarr"
    assert rstack([*args, "--out", str(out2), "--keep-flagged", "--outcomes", "success,failure"]) == 0
    printed = capsys.readouterr().out
    assert "FLAGGED" in printed
    root = zarr.open_group(str(out2), mode="r")
    assert root.attrs["episodes"] == sorted(session.published)
    ends = root["meta/episode_ends"][:]
    assert len(ends) == 3 and np.all(np.diff(ends) > 0)
    assert ends[-1] == root["data/action"].shape[0] == root["data/img_wrist"].shape[0]
    first, second = ends[0], ends[1]
    # episode 2 (wrist camera silent after 0.8 s): the held wrist frame never changes at the end
    wrist = root["data/img_wrist"][first:second, 0, 0, 0]
    assert np.all(wrist[-5:] == wrist[-1])


def test_report_html(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert rstack(["dataset", "report", "--episodes", str(session.root), "--out", str(out)]) == 0
    page = out.read_text()
    for eid in session.published:
        assert eid in page
    assert page.count("data:image/png;base64,") == 4
    assert "no messages on" not in page and "stale" in page  # the silent wrist camera is reported


def test_several_sessions_merge_into_one_dataset(
    session: Session, built: tuple[Path, int, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Two recording directories (sessions) -> one dataset; episode ids are prefixed by their session."""
    import shutil

    monday, tuesday = tmp_path / "monday", tmp_path / "tuesday"
    shutil.copytree(session.root, monday)
    shutil.copytree(session.root, tuesday)
    args = ["dataset", "build", "--rate", str(RATE), "--max-skew", str(SKEW)]
    out = tmp_path / "two.zarr"
    assert rstack([*args, "--episodes", str(monday), str(tuesday), "--out", str(out)]) == 0
    good = sorted(session.published)[0]
    root = zarr.open_group(str(out), mode="r")
    assert root.attrs["episodes"] == [f"monday/{good}", f"tuesday/{good}"]
    one = zarr.open_group(str(built[0]), mode="r")
    n = one["meta/episode_ends"][0]
    assert list(root["meta/episode_ends"][:]) == [n, 2 * n]
    np.testing.assert_array_equal(root["data/action"][n:], one["data/action"][:])
    clash = tmp_path / "x" / "monday"
    shutil.copytree(session.root, clash)
    assert rstack([*args, "--episodes", str(monday), str(clash), "--out", str(tmp_path / "bad.zarr")]) == 2
    assert "distinct names" in capsys.readouterr().err
    assert not (tmp_path / "bad.zarr").exists()
