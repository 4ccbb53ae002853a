"""Sim cameras: offscreen MuJoCo renders of the task scene from a physics snapshot (ROS-free).

The rig owns a private copy of the model and a private MjData; a `Snapshot` (positions copied in the
physics thread between two steps) is loaded into it and rendered, so rendering never reads the data
franky-sim is stepping. OpenGL contexts are bound to a thread: create and use a rig in one thread.

`meshes="collision"` renders franky-sim's simplified collision meshes (about 5x faster under
osmesa on a CPU); `"visual"` renders the detailed visual meshes (use it with EGL on a GPU).
"""

from __future__ import annotations

import copy
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from calibration.camera_intrinsics import CameraIntrinsics
from hardware.sim.task import EpisodeParams

MESH_GROUPS = {"collision": (1, 1, 0, 1, 0, 0), "visual": (1, 1, 1, 0, 0, 0)}


@dataclass(frozen=True)
class Snapshot:
    """Positions of the world at one instant, copied between physics steps."""

    qpos: np.ndarray
    mocap_pos: np.ndarray
    mocap_quat: np.ndarray
    sim_time: float
    wall_time: float


def snapshot_of(data: mujoco.MjData) -> Snapshot:
    """Copy what rendering needs; call from the thread that steps `data`."""
    return Snapshot(data.qpos.copy(), data.mocap_pos.copy(), data.mocap_quat.copy(), float(data.time), time.time())


class SimCameraRig:
    """Renders the named cameras of a model at one resolution."""

    def __init__(
        self,
        model: mujoco.MjModel,
        names: Sequence[str],
        width: int = 320,
        height: int = 240,
        meshes: str = "collision",
    ) -> None:
        if meshes not in MESH_GROUPS:
            raise ValueError(f"meshes must be one of {sorted(MESH_GROUPS)}, got {meshes!r}")
        if width <= 0 or height <= 0:
            raise ValueError(f"camera size must be positive, got {width}x{height}")
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"camera size {width}x{height} exceeds the offscreen buffer "
                f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
            )
        self.model = copy.deepcopy(model)
        self.data = mujoco.MjData(self.model)
        self.names = list(names)
        self.ids = {}
        for n in self.names:
            cid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, n)
            if cid < 0:
                raise ValueError(f"no camera {n!r} in the scene")
            self.ids[n] = cid
        self.width, self.height = int(width), int(height)
        self.option = mujoco.MjvOption()
        self.option.geomgroup[:] = MESH_GROUPS[meshes]
        self._base_cam_pos = self.model.cam_pos.copy()
        self._base_cam_quat = self.model.cam_quat.copy()
        self._base_light = self.model.light_diffuse.copy()
        self._base_headlight = np.array(self.model.vis.headlight.diffuse)
        self._renderer: mujoco.Renderer | None = None
        self.render_ms: dict[str, deque[float]] = {n: deque(maxlen=1000) for n in self.names}

    def intrinsics(self, name: str) -> CameraIntrinsics:
        """Pinhole intrinsics of camera `name` (MuJoCo cameras: square pixels, centred principal point)."""
        fovy = math.radians(float(self.model.cam_fovy[self.ids[name]]))
        f = 0.5 * self.height / math.tan(fovy / 2)
        return CameraIntrinsics(self.width, self.height, f, f, self.width / 2, self.height / 2)

    def apply_visuals(self, params: EpisodeParams) -> None:
        """Scenario visuals of an episode: external camera shift/tilt and light scale."""
        self.model.cam_pos[:] = self._base_cam_pos
        self.model.cam_quat[:] = self._base_cam_quat
        if "external" in self.ids:
            cid = self.ids["external"]
            self.model.cam_pos[cid] += np.asarray(params.camera_offset_m)
            rv = np.asarray(params.camera_tilt_rad, float)
            angle = float(np.linalg.norm(rv))
            if angle > 0:
                tilt = np.zeros(4)
                mujoco.mju_axisAngle2Quat(tilt, rv / angle, angle)
                q = np.zeros(4)
                mujoco.mju_mulQuat(q, tilt, self._base_cam_quat[cid])
                self.model.cam_quat[cid] = q
        self.model.light_diffuse[:] = self._base_light * params.light_scale
        self.model.vis.headlight.diffuse[:] = self._base_headlight * params.light_scale

    def render(self, snap: Snapshot) -> dict[str, np.ndarray]:
        """RGB images [height, width, 3] uint8 of every camera at the snapshot's instant."""
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        d = self.data
        d.qpos[:] = snap.qpos
        d.mocap_pos[:] = snap.mocap_pos
        d.mocap_quat[:] = snap.mocap_quat
        mujoco.mj_kinematics(self.model, d)
        mujoco.mj_comPos(self.model, d)
        mujoco.mj_camlight(self.model, d)
        out = {}
        for n in self.names:
            t0 = time.perf_counter()
            self._renderer.update_scene(d, camera=self.ids[n], scene_option=self.option)
            out[n] = self._renderer.render()
            self.render_ms[n].append((time.perf_counter() - t0) * 1e3)
        return out

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
