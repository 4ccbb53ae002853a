"""The MuJoCo task scene, built on franky-sim's `MujocoSimulator` before it starts.

Adds to franky-sim's FR3 scene: a table (a mocap body, so its height can change per episode while the
server runs), the path to wipe (a visual stripe, also mocap), a compliant wiping pad on the hand
(a spring-loaded slide joint: the sponge), a TCP site, and the external and wrist cameras.

franky-sim reports no external wrench (its `O_F_ext_hat_K` is always zero), so `WorldRobot` fills
`O_F_ext_hat_K` / `K_F_ext_hat_K` from the MuJoCo contact forces on the robot (see `contacts.py`),
with the sign a real Franka uses (libfranka issue #26): the wrench the robot exerts on its
environment, so pressing the pad down onto the table reads Fz < 0 in the base frame.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from franky_sim.mujoco_simulator import FrankaMujocoRobot, MujocoSimulator

from hardware.sim.task import TaskSpec

HAND_BODY = "robot0_hand"
TABLE_BODY = "table"
TABLE_GEOM = "table_top"
PATH_BODY = "wipe_path"
PAD_BODY = "wipe_pad"
PAD_GEOM = "wipe_pad"
PAD_JOINT = "wipe_pad_slide"
TCP_SITE = "tcp"
CAMERA_NAMES = ("external", "wrist")
# franky-sim's default TCP: 0.1034 m along the flange (= hand) z axis.
TCP_OFFSET_M = 0.1034


@dataclass(frozen=True)
class ToolSpec:
    """The wiping pad: a box on a spring-loaded slide along the hand's z axis (a sponge on a holder).

    tool_length_m: TCP to the pad's contact face with the spring at rest.
    travel_m: spring travel before the pad bottoms out on its holder (then it is rigid).
    """

    half_size_m: tuple[float, float, float] = (0.02, 0.03, 0.008)
    tool_length_m: float = 0.042
    travel_m: float = 0.025
    damping_ns_per_m: float = 60.0
    mass_kg: float = 0.05

    @property
    def rest_center_m(self) -> float:
        """Pad body origin (its centre) along the hand z axis, spring at rest."""
        return TCP_OFFSET_M + self.tool_length_m - self.half_size_m[2]


EXTERNAL_CAMERA_POS = np.array([1.45, 0.55, 0.75])
EXTERNAL_CAMERA_TARGET = np.array([0.5, 0.0, 0.22])
WRIST_CAMERA_POS = np.array([0.07, 0.0, 0.03])  # hand frame
WRIST_CAMERA_TARGET = np.array([0.0, 0.0, 0.17])
CAMERA_FOVY_DEG = {"external": 45.0, "wrist": 70.0}


def look_at_xyaxes(pos: np.ndarray, target: np.ndarray, up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """MuJoCo camera `xyaxes` (6 values) for a camera at `pos` looking at `target` (camera looks along -z)."""
    f = np.asarray(target, float) - np.asarray(pos, float)
    f /= np.linalg.norm(f)
    x = np.cross(f, np.asarray(up, float))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: view direction is parallel to the up vector")
    x /= np.linalg.norm(x)
    y = np.cross(-f, x)
    return np.concatenate([x, y])


def _fmt(v: Sequence[float]) -> str:
    return " ".join(f"{float(x):.6g}" for x in v)


class WorldRobot(FrankaMujocoRobot):
    """franky-sim's MuJoCo FR3 whose state carries the contact-derived external wrench.

    `external_wrench` is written by the physics thread after each step (before franky-sim sends the
    state), so it never races the state packet.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.external_wrench: tuple[float, ...] = (0.0,) * 6

    @property
    def state(self):  # -> franky_sim FrankaRobotState
        s = super().state
        w = np.asarray(self.external_wrench, float)
        rot = np.asarray(s.O_T_EE, float).reshape(4, 4, order="F")[:3, :3]
        k = np.concatenate([rot.T @ w[:3], rot.T @ w[3:]])
        return s.replace(O_F_ext_hat_K=tuple(w.tolist()), K_F_ext_hat_K=tuple(k.tolist()))


class WipeSimulator(MujocoSimulator):
    """franky-sim's `MujocoSimulator` whose robots are `WorldRobot`s."""

    def add_robot(self, *args, **kwargs) -> WorldRobot:
        base = super().add_robot(*args, **kwargs)
        robot = WorldRobot(
            initial_q=base.initial_q,
            initial_hand_width=base._initial_hand_width,
            robot_parameters=base.robot_parameters,
            kp=tuple(base.kp),
            kv=tuple(base.kv),
        )
        self._robots[-1] = robot
        return robot


def build_simulator(
    spec: TaskSpec | None = None,
    tool: ToolSpec | None = None,
    pad_friction: float = 0.4,
    pad_stiffness_n_per_m: float = 800.0,
    offscreen_size: tuple[int, int] = (640, 480),
    shadows: bool = False,
) -> tuple[WipeSimulator, WorldRobot]:
    """An initialized (not yet started) simulator holding one FR3 and the wiping scene."""
    spec = spec or TaskSpec()
    tool = tool or ToolSpec()
    sim = WipeSimulator()
    sim.init()
    robot = sim.add_robot()
    scene, world = sim.scene, sim.worldbody

    # Rendering on a CPU (osmesa): shadows and multisampling cost ~20x; off unless asked.
    quality = scene.find("visual/quality")
    if quality is not None and not shadows:
        quality.set("shadowsize", "0")
        quality.set("offsamples", "0")
    if not shadows:
        for light in world.findall("light"):
            light.set("castshadow", "false")
    visual = scene.find("visual")
    assert visual is not None
    ET.SubElement(
        visual, "global", offwidth=str(max(640, offscreen_size[0])), offheight=str(max(480, offscreen_size[1]))
    )

    # Table: a mocap body, moved per episode. Collides with the robot (bit 0) and the pad (bit 1).
    asset = scene.find("asset")
    assert asset is not None
    ET.SubElement(asset, "material", name="table_wood", rgba="0.62 0.48 0.33 1")
    ET.SubElement(asset, "material", name="wipe_stripe", rgba="0.75 0.1 0.1 1")
    ET.SubElement(asset, "material", name="pad_foam", rgba="0.95 0.8 0.2 1")
    hx, hy = spec.table_half_xy
    thick = 0.15
    table = ET.SubElement(
        world, "body", name=TABLE_BODY, mocap="true", pos=_fmt((*spec.table_center_xy, spec.table_top_nominal_z))
    )
    ET.SubElement(
        table, "geom", name=TABLE_GEOM, type="box", size=_fmt((hx, hy, thick)), pos=_fmt((0, 0, -thick)),
        material="table_wood", contype="3", conaffinity="3", friction="1 0.005 0.0001",
    )  # fmt: skip
    stripe = ET.SubElement(world, "body", name=PATH_BODY, mocap="true", pos=_fmt((0.55, 0, spec.table_top_nominal_z)))
    ET.SubElement(
        stripe, "geom", name="wipe_path_stripe", type="box", size=_fmt((0.012, spec.path_length_m / 2, 0.0004)),
        pos="0 0 0.0004", material="wipe_stripe", contype="0", conaffinity="0", group="1",
    )  # fmt: skip

    # Tool: a holder stem (visual) and the pad on a spring slide along the hand z axis.
    hand = next((b for b in world.iter("body") if b.get("name") == HAND_BODY), None)
    if hand is None:
        raise RuntimeError(f"franky-sim scene has no body {HAND_BODY!r}: unsupported franky-sim version")
    ET.SubElement(hand, "site", name=TCP_SITE, pos=_fmt((0, 0, TCP_OFFSET_M)), size="0.004", group="4")
    stem_top, stem_bottom = 0.06, tool.rest_center_m - tool.half_size_m[2]
    ET.SubElement(
        hand, "geom", name="wipe_stem", type="cylinder", size=_fmt((0.007, (stem_bottom - stem_top) / 2)),
        pos=_fmt((0, 0, (stem_top + stem_bottom) / 2)), rgba="0.3 0.3 0.3 1", contype="0", conaffinity="0",
        mass="0.02", group="1",
    )  # fmt: skip
    pad = ET.SubElement(hand, "body", name=PAD_BODY, pos=_fmt((0, 0, tool.rest_center_m)))
    ET.SubElement(
        pad, "joint", name=PAD_JOINT, type="slide", axis="0 0 1", limited="true",
        range=_fmt((-tool.travel_m, 0.0)), stiffness=f"{pad_stiffness_n_per_m:g}", springref="0.0",
        damping=f"{tool.damping_ns_per_m:g}", armature="0.001",
    )  # fmt: skip
    ET.SubElement(
        pad, "geom", name=PAD_GEOM, type="box", size=_fmt(tool.half_size_m), material="pad_foam",
        contype="2", conaffinity="2", friction=f"{pad_friction:g} 0.005 0.0001", mass=f"{tool.mass_kg:g}",
        condim="3", group="1",
    )  # fmt: skip

    # Cameras: fixed external, and one on the hand looking at the pad.
    ET.SubElement(
        world, "camera", name="external", pos=_fmt(EXTERNAL_CAMERA_POS),
        xyaxes=_fmt(look_at_xyaxes(EXTERNAL_CAMERA_POS, EXTERNAL_CAMERA_TARGET)),
        fovy=f"{CAMERA_FOVY_DEG['external']:g}",
    )  # fmt: skip
    ET.SubElement(
        hand, "camera", name="wrist", pos=_fmt(WRIST_CAMERA_POS),
        xyaxes=_fmt(look_at_xyaxes(WRIST_CAMERA_POS, WRIST_CAMERA_TARGET, up=(0.0, 1.0, 0.0))),
        fovy=f"{CAMERA_FOVY_DEG['wrist']:g}",
    )  # fmt: skip
    return sim, robot


def quat_about_z(angle: float) -> np.ndarray:
    """MuJoCo quaternion (w, x, y, z) of a rotation by `angle` about z."""
    return np.array([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])
