"""Contact forces between the robot and its environment, read from MuJoCo data (ROS-free).

One `ContactSample` per physics step: the external wrench at the TCP (the F/T a real Franka
estimates), the pad's contact points and forces in the pad frame (what the tactile model needs),
and whether any robot part other than the pad touches the environment (a collision).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from hardware.sim.scene import HAND_BODY, PAD_BODY, PAD_GEOM, PAD_JOINT, TCP_SITE


@dataclass
class ContactSample:
    """Contact state after one physics step (base frame unless stated).

    wrench_on_env: [Fx, Fy, Fz, Tx, Ty, Tz] the robot exerts on its environment, about the TCP.
    pad_points_xy: [k, 2] contact points in the pad frame (m). pad_forces: [k, 3] the force the
    environment exerts on the pad, pad frame, as [shear_x, shear_y, normal] with normal >= 0.
    """

    sim_time: float
    wall_time: float = 0.0
    stamp: float = 0.0  # the capture stamp sensors publish: wall_time, or sim_time on a sim clock
    wrench_on_env: np.ndarray = field(default_factory=lambda: np.zeros(6))
    pad_normal_n: float = 0.0
    pad_points_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    pad_forces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    pad_center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pad_compression_m: float = 0.0
    tcp_pos: np.ndarray = field(default_factory=lambda: np.zeros(3))
    collision: str = ""


class ContactReader:
    """Reads `ContactSample`s from one model's data; call only where the data is not being stepped."""

    def __init__(self, model: mujoco.MjModel) -> None:
        self.model = model
        hand = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, HAND_BODY)
        if hand < 0:
            raise ValueError(f"model has no body {HAND_BODY!r}")
        robot_root = int(model.body_rootid[hand])
        self.geom_is_robot = model.body_rootid[model.geom_bodyid] == robot_root
        self.pad_geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, PAD_GEOM)
        self.pad_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, PAD_BODY)
        self.tcp_site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE)
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, PAD_JOINT)
        if min(self.pad_geom, self.pad_body, self.tcp_site, joint) < 0:
            raise ValueError("model lacks the wiping tool (pad geom/body, slide joint or tcp site)")
        self.pad_qpos = int(model.jnt_qposadr[joint])
        self._f6 = np.zeros(6)

    def read(self, data: mujoco.MjData) -> ContactSample:
        m = self.model
        tcp = data.site_xpos[self.tcp_site].copy()
        pad_pos = data.geom_xpos[self.pad_geom]
        pad_rot = data.geom_xmat[self.pad_geom].reshape(3, 3)
        sample = ContactSample(
            sim_time=float(data.time),
            pad_center=pad_pos.copy(),
            pad_compression_m=float(-data.qpos[self.pad_qpos]),
            tcp_pos=tcp,
        )
        n = int(data.ncon)
        if n == 0:
            return sample
        geoms = data.contact.geom[:n]
        robot1 = self.geom_is_robot[geoms[:, 0]]
        robot2 = self.geom_is_robot[geoms[:, 1]]
        relevant = np.flatnonzero(robot1 != robot2)  # robot <-> environment only
        if relevant.size == 0:
            return sample
        force = np.zeros(3)
        torque = np.zeros(3)
        points, forces = [], []
        for i in relevant:
            mujoco.mj_contactForce(m, data, int(i), self._f6)
            if self._f6[0] <= 1e-9:
                continue  # within margin, no force
            frame = data.contact.frame[i].reshape(3, 3)
            f_on_geom2 = frame.T @ self._f6[:3]
            robot_geom = int(geoms[i, 0] if robot1[i] else geoms[i, 1])
            f_on_robot = -f_on_geom2 if robot1[i] else f_on_geom2
            p = data.contact.pos[i]
            force += f_on_robot
            torque += np.cross(p - tcp, f_on_robot)
            if robot_geom == self.pad_geom:
                f_pad = pad_rot.T @ f_on_robot
                # The pad's z axis points away from the hand (down): the table pushes along -z.
                forces.append((f_pad[0], f_pad[1], -f_pad[2]))
                points.append((pad_rot.T @ (p - pad_pos))[:2])
            elif not sample.collision:
                sample.collision = (
                    mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, int(m.geom_bodyid[robot_geom])) or "robot"
                )
        sample.wrench_on_env = -np.concatenate([force, torque])
        if forces:
            sample.pad_forces = np.asarray(forces, float)
            sample.pad_points_xy = np.asarray(points, float)
            sample.pad_normal_n = float(max(0.0, sample.pad_forces[:, 2].sum()))
        return sample
