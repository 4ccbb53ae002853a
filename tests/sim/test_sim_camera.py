"""Sim cameras: offscreen renders of a physics snapshot, scenario visuals, pinhole intrinsics."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hardware.sim.scenarios import scenario
from hardware.sim.scene import build_simulator
from hardware.sim.sim_camera import SimCameraRig, snapshot_of
from hardware.sim.task import EpisodeParams

pytestmark = [pytest.mark.sim]


@pytest.fixture(scope="module")
def sim_and_rig():
    sim, _ = build_simulator()
    sim.start()
    rig = SimCameraRig(sim.model, ["external", "wrist"], 160, 120)
    try:
        yield sim, rig
    finally:
        rig.close()
        sim.cleanup()


def test_renders_both_cameras_and_follows_the_snapshot(sim_and_rig) -> None:
    sim, rig = sim_and_rig
    snap = snapshot_of(sim.data)
    imgs = rig.render(snap)
    assert set(imgs) == {"external", "wrist"}
    for img in imgs.values():
        assert img.shape == (120, 160, 3) and img.dtype == np.uint8 and img.std() > 5
    moved = dataclasses.replace(snap, mocap_pos=snap.mocap_pos + np.array([0.0, 0.0, -0.3]))  # drop the table
    diff = np.abs(rig.render(moved)["external"].astype(int) - imgs["external"].astype(int)).mean()
    assert diff > 3.0, "the image must show the state it was given"
    np.testing.assert_array_equal(rig.render(snap)["external"], imgs["external"])


def test_lighting_and_camera_shift_scenarios_change_the_image(sim_and_rig) -> None:
    sim, rig = sim_and_rig
    snap = snapshot_of(sim.data)
    nominal = EpisodeParams.sample(scenario("nominal"), 0, 0)
    rig.apply_visuals(nominal)
    base = rig.render(snap)["external"].astype(float)
    rig.apply_visuals(EpisodeParams.sample(scenario("lighting"), 0, 0))
    dim = rig.render(snap)["external"].astype(float)
    rig.apply_visuals(EpisodeParams.sample(scenario("camera_shift"), 0, 0))
    shifted = rig.render(snap)["external"].astype(float)
    rig.apply_visuals(nominal)
    assert dim.mean() < 0.8 * base.mean()
    assert np.abs(shifted - base).mean() > 3.0
    np.testing.assert_array_equal(rig.render(snap)["external"], base.astype(np.uint8))


def test_intrinsics_match_the_vertical_field_of_view(sim_and_rig) -> None:
    _, rig = sim_and_rig
    intr = rig.intrinsics("wrist")
    fovy = math.radians(float(rig.model.cam_fovy[rig.ids["wrist"]]))
    assert math.isclose(2 * math.degrees(math.atan(0.5 * 120 / intr.fy)), math.degrees(fovy), rel_tol=1e-9)
    assert (intr.width, intr.height, intr.ppx, intr.ppy) == (160, 120, 80.0, 60.0) and intr.fx == intr.fy


def test_bad_camera_setup_is_refused(sim_and_rig) -> None:
    sim, _ = sim_and_rig
    with pytest.raises(ValueError, match="no camera 'top'"):
        SimCameraRig(sim.model, ["top"])
    with pytest.raises(ValueError, match="meshes"):
        SimCameraRig(sim.model, ["wrist"], meshes="fancy")
