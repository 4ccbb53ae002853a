"""Run a franky-sim server (MuJoCo FR3, default scene) in a child process on its own loopback IP.

    with FrankySimServer() as sim:
        robot = franky.Robot(sim.host, realtime_config=franky.RealtimeConfig.Ignore)

The child is `python -m tests.helpers.franky_sim_server --host 127.x.y.z`: a plain
`franky_sim.SimulationServer` over a `MujocoSimulator`, serving the real libfranka protocol (robot
on port 1337, gripper on 1338) on a random 127.0.0.0/8 address, so parallel runs never collide.

Opt-in extras (off by default, so the default server is franky-sim as shipped):
- `obstacle=(x, y, z, hx, hy, hz)`: a fixed box added to the scene before start, to push against.
- `contact_model=True`: franky-sim reports a zero external wrench and never raises a reflex. With
  this flag the server reports MuJoCo's contact forces on the arm as the external wrench
  (O_F_ext_hat_K in the base frame, K_F_ext_hat_K in the EE frame, at the TCP, force acting on the
  arm), and, like the real robot, aborts the running motion with a Cartesian reflex (robot mode
  Reflex, `cartesian_reflex` error, Move answered `kReflexAborted`) when the force exceeds the upper
  force threshold the client set with `set_collision_behavior`; new motions are refused until the
  client runs automatic error recovery. The client sees it through libfranka's own error path.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# libfranka's Errors index of `cartesian_reflex` (checked against franky.Errors in the tests).
CARTESIAN_REFLEX_INDEX = 7


def random_loopback_host() -> str:
    """A random 127.x.y.z address (never 127.0.0.1, never the broadcast)."""
    rng = random.SystemRandom()
    return f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


class FrankySimServer:
    """A franky-sim server in a child process; `host` is the robot IP to connect to."""

    def __init__(
        self,
        host: str | None = None,
        obstacle: tuple[float, float, float, float, float, float] | None = None,
        contact_model: bool = False,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.host = host or random_loopback_host()
        self.obstacle = obstacle
        self.contact_model = contact_model
        self.start_timeout_s = start_timeout_s
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    def start(self) -> FrankySimServer:
        argv = [sys.executable, "-m", "tests.helpers.franky_sim_server", "--host", self.host]
        if self.obstacle is not None:
            argv += ["--obstacle", *(str(v) for v in self.obstacle)]
        if self.contact_model:
            argv.append("--contact-model")
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = threading.Event()

        def _read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("READY"):
                    ready.set()

        threading.Thread(target=_read, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_s
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"franky-sim server on {self.host} did not start:\n" + "\n".join(self.lines))
        return self

    def pause(self) -> None:
        """Freeze the server process (SIGSTOP): no state packets, as if the robot link stalled."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> FrankySimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- child process
def _contact_wrench(model, data, robot_bodies: set[int], tcp_pos, np, mujoco):
    """Sum of contact forces acting on the arm's bodies, and their torque about the TCP (world frame)."""
    force = np.zeros(3)
    torque = np.zeros(3)
    f6 = np.zeros(6)
    for i in range(data.ncon):
        c = data.contact[i]
        b1, b2 = model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2]
        on1, on2 = b1 in robot_bodies, b2 in robot_bodies
        if on1 == on2:
            continue
        mujoco.mj_contactForce(model, data, i, f6)
        f_world = c.frame.reshape(3, 3).T @ f6[:3]  # force of geom1 on geom2
        f_arm = f_world if on2 else -f_world
        force += f_arm
        torque += np.cross(c.pos - tcp_pos, f_arm)
    return force, torque


def _serve(host: str, obstacle: list[float] | None, contact_model: bool) -> None:
    import xml.etree.ElementTree as ET

    import mujoco
    import numpy as np
    from franky_sim import SimulationServer
    from franky_sim.franka_robot_protocol import (
        AutomaticErrorRecoveryCommand,
        AutomaticErrorRecoveryStatus,
        BaseCommand,
        MoveStatus,
        RobotCommand,
        RobotMode,
        SetCollisionBehaviorCommand,
    )
    from franky_sim.franka_robot_server import FrankaRobotServer
    from franky_sim.mujoco_simulator import FrankaMujocoRobot, MujocoSimulator

    sim = MujocoSimulator()
    sim.init()
    robot = sim.add_robot()
    if obstacle is not None:
        x, y, z, hx, hy, hz = obstacle
        ET.SubElement(
            sim.worldbody, "geom", name="obstacle", type="box", pos=f"{x} {y} {z}", size=f"{hx} {hy} {hz}",
            rgba="0.8 0.3 0.3 1",
        )  # fmt: skip

    server_cls = FrankaRobotServer
    if contact_model:
        bodies: set[int] = set()

        class WrenchRobot(FrankaMujocoRobot):
            """Reports MuJoCo contact forces on the arm as the external wrench at the TCP."""

            last_force_n = 0.0

            @property
            def state(self):
                st = super().state
                if self.model is None:
                    return st
                if not bodies:
                    for b in range(self.model.nbody):
                        name = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, b) or ""
                        if name.startswith("robot0_"):
                            bodies.add(b)
                T = np.array(st.O_T_EE).reshape(4, 4, order="F")
                f, t = _contact_wrench(self.model, self.data, bodies, T[:3, 3], np, mujoco)
                WrenchRobot.last_force_n = float(np.linalg.norm(f))
                R = T[:3, :3]
                return st.replace(
                    O_F_ext_hat_K=(*f.tolist(), *t.tolist()),
                    K_F_ext_hat_K=(*(R.T @ f).tolist(), *(R.T @ t).tolist()),
                )

        robot.__class__ = WrenchRobot

        class ReflexRobotServer(FrankaRobotServer):
            """Aborts the motion with a Cartesian reflex when the contact force exceeds the threshold."""

            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self.reflex = False
                self.force_limit_n = 30.0
                srv = self

                class Recovery(AutomaticErrorRecoveryCommand):
                    def handle(self, server) -> None:
                        srv.reflex = False
                        self.reply(AutomaticErrorRecoveryStatus.kSuccess)

                class Collision(SetCollisionBehaviorCommand):
                    def handle(self, server) -> None:
                        srv.force_limit_n = float(min(self.upper_force_thresholds_nominal[:3]))
                        self.reply(0)

                cmap = self._FrankaServer__command_class_map
                cmap[RobotCommand.kAutomaticErrorRecovery] = Recovery
                cmap[RobotCommand.kSetCollisionBehavior] = Collision

            def stop_motion(self, *args, **kwargs) -> None:
                super().stop_motion(*args, **kwargs)
                if self.reflex:
                    # Like the robot after a reflex: hold where the arm is, not where it was commanded to be.
                    self._FrankaRobotServer__holding_q = tuple(self.robot.inner_state.q)

            def start_motion(self, *args, **kwargs) -> None:
                if self.reflex:
                    raise RuntimeError("reflex active: automatic error recovery required")
                super().start_motion(*args, **kwargs)

            def send_state(self) -> None:
                if not self.reflex and self.current_motion_id and WrenchRobot.last_force_n > self.force_limit_n:
                    motion_id = self.current_motion_id
                    self.reflex = True
                    self.stop_motion(send_preemption_signal=False)
                    self.reset_current_motion_id()
                    BaseCommand.send_response(
                        self._tcp_socket, RobotCommand.kMove, motion_id, MoveStatus.kReflexAborted
                    )
                    print(f"REFLEX force={WrenchRobot.last_force_n:.1f}N > {self.force_limit_n:.1f}N", flush=True)
                super().send_state()

            @property
            def robot_state(self):
                st = super().robot_state
                if not self.reflex:
                    return st
                errs = [False] * 41
                errs[CARTESIAN_REFLEX_INDEX] = True
                return st.replace(
                    robot_mode=RobotMode.kReflex, errors=tuple(errs), current_errors=tuple(errs),
                    last_motion_errors=tuple(errs), reflex_reason=tuple(errs),
                )  # fmt: skip

        server_cls = ReflexRobotServer

    class Server(SimulationServer):
        def init(self) -> None:
            for r in self.sim.robots:
                rs = server_cls(r, self._remaining_hostname_candidates)
                rs.init()
                self.robot_servers.append(rs)
            self.sim.start()

    with Server(sim, hostname_candidates=[host]) as server:
        print(f"READY {host}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.run_forever()
    sim.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description="franky-sim server on one loopback address")
    ap.add_argument("--host", required=True)
    ap.add_argument("--obstacle", type=float, nargs=6, default=None, metavar=("X", "Y", "Z", "HX", "HY", "HZ"))
    ap.add_argument("--contact-model", action="store_true")
    a = ap.parse_args()
    _serve(a.host, a.obstacle, a.contact_model)


if __name__ == "__main__":
    main()
