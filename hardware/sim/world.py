"""The simulated world: franky-sim's libfranka server on the wiping scene, plus sim sensors (ROS-free).

Threads and who touches what:
- the physics thread (franky-sim's `SimulationServer.run_async`) steps MuJoCo at 1 kHz; our pre-/post-
  step callbacks run inside it and are the only code that writes `sim.data` (episode resets, the
  push, the external wrench) or reads contacts;
- the camera thread asks the physics thread for a `Snapshot` (served between two steps) and renders
  it on a private model/data copy; the tactile thread reads the newest immutable `ContactSample`.
So neither rendering nor the tactile model ever races a physics step.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np
from franky_sim import SimulationServer

from hardware.sim.contacts import ContactReader, ContactSample
from hardware.sim.flight_recorder import FlightRecorder
from hardware.sim.scenarios import scenario as get_scenario
from hardware.sim.scene import (
    CAMERA_NAMES,
    HAND_BODY,
    PAD_GEOM,
    PAD_JOINT,
    PATH_BODY,
    TABLE_BODY,
    ToolSpec,
    build_simulator,
    quat_about_z,
)
from hardware.sim.sim_camera import SimCameraRig, Snapshot, snapshot_of
from hardware.sim.sim_tactile import SimTactileSensor
from hardware.sim.task import EpisodeOutcome, EpisodeParams, TaskSpec, WipeProgress
from hardware.timing import CycleTimer

TACTILE_CALIBRATION_SEED = 0  # seeds the synthetic contacts the sim pad's PCA embedding is fitted on


@dataclass(frozen=True)
class WorldConfig:
    """How to run the world. `host` is the loopback address the libfranka server binds (ports 1337/1338)."""

    host: str = "127.0.0.1"
    seed: int = 0
    scenario: str = "nominal"
    cameras: tuple[str, ...] = CAMERA_NAMES
    camera_width: int = 320
    camera_height: int = 240
    camera_rate_hz: float = 15.0
    tactile_rate_hz: float = 30.0
    render_meshes: str = "collision"
    realtime: float = 1.0
    wrench_cutoff_hz: float = 40.0
    metric_every_steps: int = 4
    # Sensor rates and capture stamps in sim time (the stamps then match the /clock the world publishes),
    # instead of wall time: a slow machine runs the sim slower, never the sensors out of step with it.
    sim_clock: bool = False
    # A directory for the physics flight recorder (the last 3 s of the arm's control, saved when the arm leaves
    # its commanded pose or a contact force spikes); empty = off.
    flight_log_dir: str = ""
    spec: TaskSpec = field(default_factory=TaskSpec)
    tool: ToolSpec = field(default_factory=ToolSpec)

    def __post_init__(self) -> None:
        get_scenario(self.scenario)  # raises with the known names
        unknown = [c for c in self.cameras if c not in CAMERA_NAMES]
        if unknown:
            raise ValueError(f"unknown sim camera(s) {unknown} (known: {', '.join(CAMERA_NAMES)})")
        for name in ("realtime", "wrench_cutoff_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("camera_rate_hz", "tactile_rate_hz"):  # 0 turns the sensor off
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0 (0 = off), got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not self.host.startswith("127."):
            raise ValueError(f"the sim server binds loopback only: host must be 127.x.y.z, got {self.host!r}")


class ResetRefused(RuntimeError):
    """An episode reset that would be unsafe or impossible now (the message says why)."""


class SimWorld:
    """franky-sim server + wiping task + sensors. `start()`, then `reset_episode()` per episode."""

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self.scenario = get_scenario(self.config.scenario)
        self.sim = None
        self.robot = None
        self.server: SimulationServer | None = None
        self.reader: ContactReader | None = None
        # The sensor's PCA is its calibration: fixed for the sensor, never drawn from the episode seed (data
        # recorded with one seed and a policy run with another must see the same touch features).
        self.tactile = SimTactileSensor(seed=TACTILE_CALIBRATION_SEED)
        self._lock = threading.Lock()
        self._episode_index = 0
        self.params: EpisodeParams | None = None
        self.progress: WipeProgress | None = None
        self.outcomes: list[EpisodeOutcome] = []
        self.version = 0  # bumped on every reset and every decided outcome
        self._episode_t0 = 0.0
        self._pending: dict[str, tuple[Callable[[], None], threading.Event]] = {}  # what -> physics-thread call
        self._snapshot_request: threading.Event | None = None
        self._snapshot: Snapshot | None = None
        self._latest: ContactSample | None = None
        self._wrench = np.zeros(6)
        self._push_active = False
        self._steps = 0
        self.physics_errors = 0
        self.last_physics_error = ""
        self._threads: list[threading.Thread] = []
        self._running = threading.Event()
        self.flight: FlightRecorder | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Build the scene, bind the libfranka server on `host`, start physics (real time) and episode 0."""
        cfg = self.config
        self.sim, self.robot = build_simulator(
            cfg.spec,
            cfg.tool,
            self.scenario.pad_friction,
            self.scenario.pad_stiffness_n_per_m,
            offscreen_size=(cfg.camera_width, cfg.camera_height),
        )
        self.server = SimulationServer(self.sim, hostname_candidates=[cfg.host])
        try:
            self.server.init()  # binds TCP/UDP 1337 (+ gripper 1338) on host, then sim.start()
        except OSError as exc:
            raise OSError(
                f"cannot bind the franky-sim server on {cfg.host}: {exc} (is another sim running there?)"
            ) from exc
        m = self.sim.model
        self.reader = ContactReader(m)
        self._ids = {
            "table": int(m.body_mocapid[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, TABLE_BODY)]),
            "path": int(m.body_mocapid[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, PATH_BODY)]),
            "hand": mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, HAND_BODY),
            "pad_geom": mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, PAD_GEOM),
            "pad_joint": mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, PAD_JOINT),
        }
        self._apply_episode(self._draw(0))  # physics not running yet: apply directly
        if cfg.flight_log_dir:
            self.flight = FlightRecorder(cfg.flight_log_dir)
        self.sim.register_pre_step_callback(self._pre_step)
        self.sim.register_post_step_callback(self._post_step)
        self._running.set()
        self.server.run_async(realtime=cfg.realtime)

    def stop(self) -> None:
        self._running.clear()
        for t in self._threads:
            t.join(timeout=5.0)
        self._threads.clear()
        if self.server is not None:
            self.server.cleanup()
            self.server = None
        if self.flight is not None:
            self._write_flight_summary()
        if self.sim is not None and self.sim.is_initialized and not self.sim.is_cleaned_up:
            self.sim.cleanup()

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def physics_alive(self) -> bool:
        t = self.server.async_thread if self.server else None
        return bool(t and t.is_alive())

    @property
    def sim_time(self) -> float:
        return float(self.sim.data.time) if self.sim and self.sim.data is not None else 0.0

    # ------------------------------------------------------------------ episodes
    def _draw(self, index: int) -> EpisodeParams:
        return EpisodeParams.sample(self.scenario, self.config.seed, index, self.config.spec)

    def reset_episode(self, timeout_s: float = 5.0) -> EpisodeParams:
        """End the current episode (aborted if undecided) and start the next seeded one.

        Refused while the tool or the robot touches the table (lift first: the table moves).
        """
        sample = self._latest
        if sample is not None and (sample.pad_normal_n > 0.5 or sample.collision):
            raise ResetRefused(
                f"robot is touching the table (pad force {sample.pad_normal_n:.1f} N"
                f"{', ' + sample.collision if sample.collision else ''}): lift the tool before a reset"
            )
        if not self.physics_alive:
            raise ResetRefused("physics is not running")
        params = self._draw(self._episode_index + 1)
        self._on_physics("reset", lambda: self._apply_episode(params), timeout_s)
        return params

    def release_table(self, drop_m: float = 0.05, timeout_s: float = 5.0) -> float:
        """Lower the table (and its path) by `drop_m` to free a stopped arm pressed into it, as a person would
        on a real robot; the episode's outcome is not changed. Returns the new table-top height."""
        if not 0.0 < drop_m <= 0.1:
            raise ValueError(f"drop_m must be in (0, 0.1] m, got {drop_m}")
        if not self.physics_alive:
            raise ResetRefused("physics is not running")
        self._on_physics("release", lambda: self._lower_table(drop_m), timeout_s)
        return float(self.sim.data.mocap_pos[self._ids["table"]][2])

    def _on_physics(self, what: str, call: Callable[[], None], timeout_s: float) -> None:
        """Run `call` on the physics thread before its next step and wait for it (ResetRefused on timeout)."""
        done = threading.Event()
        with self._lock:
            self._pending[what] = (call, done)
        if not done.wait(timeout_s):
            with self._lock:
                self._pending.pop(what, None)
            raise ResetRefused(f"physics did not take the {what} within {timeout_s} s")

    def _lower_table(self, drop_m: float) -> None:
        """Physics thread: move the table and its path down by `drop_m`."""
        for body in ("table", "path"):
            self.sim.data.mocap_pos[self._ids[body]][2] -= drop_m
        mujoco.mj_forward(self.sim.model, self.sim.data)

    def _apply_episode(self, params: EpisodeParams) -> None:
        """Physics thread (or before start): move the table and the path, set the tool physics."""
        m, d = self.sim.model, self.sim.data
        if self.progress is not None and self.progress.outcome is None:
            self.outcomes.append(self.progress.abort(float(d.time) - self._episode_t0))
        d.mocap_pos[self._ids["table"]] = (*self.config.spec.table_center_xy, params.table_top_z)
        a, b = np.asarray(params.path_start_xy), np.asarray(params.path_end_xy)
        mid = (a + b) / 2
        d.mocap_pos[self._ids["path"]] = (mid[0], mid[1], params.table_top_z)
        angle = float(np.arctan2(b[1] - a[1], b[0] - a[0])) - np.pi / 2  # stripe's long axis is y
        d.mocap_quat[self._ids["path"]] = quat_about_z(angle)
        m.geom_friction[self._ids["pad_geom"], 0] = params.pad_friction
        m.jnt_stiffness[self._ids["pad_joint"]] = params.pad_stiffness_n_per_m
        d.xfrc_applied[self._ids["hand"]] = 0.0
        self._push_active = False
        mujoco.mj_forward(m, d)
        self._episode_index = params.episode
        self.params = params
        self.progress = WipeProgress(params, self.config.spec)
        self._episode_t0 = float(d.time)
        self.version += 1

    def episode_time(self) -> float:
        return self.sim_time - self._episode_t0

    def privileged_state(self) -> dict[str, Any]:
        """What the scripted expert may know: episode geometry, progress, true pad force (JSON-able)."""
        p, prog, s = self.params, self.progress, self._latest
        out: dict[str, Any] = {
            "episode": p.episode if p else -1,
            "sim_time": self.sim_time,
            "t": round(self.episode_time(), 4),
            "table_top_z": p.table_top_z if p else None,
            "path_start_xy": list(p.path_start_xy) if p else None,
            "path_end_xy": list(p.path_end_xy) if p else None,
            "tool_length_m": self.config.tool.tool_length_m,
            "force_band_n": list(self.config.spec.force_band_n),
            "hard_limit_n": self.config.spec.hard_limit_n,
            "coverage": prog.coverage if prog else 0.0,
            "status": "running" if prog and prog.outcome is None else (prog.outcome.kind if prog else "idle"),
        }
        if s is not None:
            out.update(
                pad_force_n=round(s.pad_normal_n, 3),
                pad_compression_m=round(s.pad_compression_m, 5),
                in_contact=bool(s.pad_normal_n > 0.5),
                collision=s.collision,
            )
        return out

    def episode_record(self) -> dict[str, Any]:
        """The current episode as a JSON-able record: params, status and (once decided) its outcome."""
        p, prog = self.params, self.progress
        out: dict[str, Any] = {"seed": self.config.seed, "scenario": self.scenario.name}
        if p is not None:
            out["params"] = p.to_dict()
            out["episode"] = p.episode
        if prog is not None:
            out["status"] = "running" if prog.outcome is None else "done"
            out["outcome"] = prog.outcome.to_dict() if prog.outcome else None
        out["tool_length_m"] = self.config.tool.tool_length_m
        out["task"] = {
            "force_band_n": list(self.config.spec.force_band_n),
            "hard_limit_n": self.config.spec.hard_limit_n,
            "time_limit_s": self.config.spec.time_limit_s,
            "required_coverage": self.config.spec.required_coverage,
        }
        return out

    # ------------------------------------------------------------------ physics-thread callbacks
    def _pre_step(self, sim: Any) -> None:
        try:
            with self._lock:
                pending, self._pending = self._pending, {}
            for call, done in pending.values():  # insertion order: a reset asked first runs first
                call()
                done.set()
            p = self.params
            if p is not None and p.push_at_s is not None:
                t = float(sim.data.time) - self._episode_t0
                active = p.push_at_s <= t < p.push_at_s + p.push_duration_s
                if active != self._push_active:
                    f = (*p.push_force_xy_n, 0.0) if active else (0.0, 0.0, 0.0)
                    sim.data.xfrc_applied[self._ids["hand"], :3] = f
                    self._push_active = active
        except Exception as exc:
            self._physics_error(exc)

    def _post_step(self, sim: Any) -> None:
        try:
            d = sim.data
            sample = self.reader.read(d)
            # First-order low-pass, like the robot's own filtered estimate (contact forces chatter per step).
            alpha = 1.0 - np.exp(-2 * np.pi * self.config.wrench_cutoff_hz * sim.model.opt.timestep)
            self._wrench += alpha * (sample.wrench_on_env - self._wrench)
            self.robot.external_wrench = tuple(self._wrench.tolist())
            sample.wall_time = time.time()
            sample.stamp = float(d.time) if self.config.sim_clock else sample.wall_time
            self._latest = sample
            self._steps += 1
            if self.flight is not None:
                self._record_flight(d, sample)
            prog = self.progress
            due = self._steps % self.config.metric_every_steps == 0
            if prog is not None and prog.outcome is None and due:
                t = float(d.time) - self._episode_t0
                if prog.update(t, sample.pad_center[:2], sample.pad_normal_n, sample.collision):
                    self.outcomes.append(prog.outcome)
                    self.version += 1
            request = self._snapshot_request
            if request is not None and not request.is_set():
                self._snapshot = snapshot_of(d)
                request.set()
        except Exception as exc:
            self._physics_error(exc)

    def _record_flight(self, d: Any, sample: ContactSample) -> None:
        """Physics thread: one flight-recorder row (franky-sim's server and robot internals, read-only)."""
        rs = self.server.robot_servers[0] if self.server and self.server.robot_servers else None
        robot = self.robot
        mode = getattr(rs, "_FrankaRobotServer__control_mode", None)
        cmd = getattr(rs, "_FrankaRobotServer__current_control_command", None)
        cmd_pos = np.asarray(cmd.O_T_EE_c, float)[12:15] if cmd is not None else np.full(3, np.nan)
        try:
            q_target = robot._tracked_state_components["q_d"].get(robot._BaseRobot__prev_t)
        except Exception:
            q_target = np.full(7, np.nan)
        path = self.flight.record(
            t=float(d.time),
            wall=time.monotonic(),
            mode=mode.value if mode is not None else "other",
            new_cmd=bool(getattr(rs, "_FrankaRobotServer__has_new_command", False)),
            cmd_lag=int(getattr(rs, "_FrankaServer__message_id", 0)) - int(cmd.message_id if cmd is not None else 0),
            q=d.qpos[robot._qpos_addrs],
            dq=d.qvel[robot._dof_addrs],
            q_target=q_target,
            tau=robot._applied_torques,
            tcp=sample.tcp_pos,
            cmd_pos=cmd_pos,
            force=sample.wrench_on_env,
        )
        if path is not None:
            self.flight_note = f"flight recorder saved {path}"
        if path is not None or self._steps % 10000 == 0:
            self._write_flight_summary()

    def _write_flight_summary(self) -> None:
        (self.flight.out_dir / f"summary_{os.getpid()}.json").write_text(json.dumps(self.flight.summary()))

    def _physics_error(self, exc: Exception) -> None:
        self.physics_errors += 1
        self.last_physics_error = f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ sensors
    def snapshot(self, timeout_s: float = 0.5) -> Snapshot:
        """Positions copied by the physics thread between two steps (never mid-step)."""
        request = threading.Event()
        self._snapshot_request = request
        if not request.wait(timeout_s):
            self._snapshot_request = None
            raise TimeoutError(f"physics thread did not serve a snapshot within {timeout_s} s")
        self._snapshot_request = None
        assert self._snapshot is not None
        return self._snapshot

    def tactile_reading(self, after_s: float = 0.0) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(marker field [7, 9, 2] px, embedding [15], capture stamp) of the newest contact sample,
        or None if there is none newer than `after_s` (physics has not stepped since)."""
        sample, p = self._latest, self.params
        if sample is None or p is None or sample.stamp <= after_s:
            return None
        frozen = p.tactile_freeze_at_s is not None and sample.sim_time - self._episode_t0 >= p.tactile_freeze_at_s
        field_, emb = self.tactile.read(sample.pad_points_xy, sample.pad_forces, frozen=frozen)
        return field_, emb, sample.stamp

    def start_sensor_loops(
        self,
        on_frames: Callable[[dict[str, np.ndarray], float, SimCameraRig], None] | None,
        on_tactile: Callable[[np.ndarray, np.ndarray, float], None] | None,
    ) -> None:
        """Camera and tactile threads at their configured rates, calling back with capture stamps."""
        if on_frames is not None and self.config.cameras and self.config.camera_rate_hz > 0:
            self._spawn("sim-cameras", self._camera_loop, on_frames)
        if on_tactile is not None and self.config.tactile_rate_hz > 0:
            self._spawn("sim-tactile", self._tactile_loop, on_tactile)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _sensor_timer(self, rate_hz: float) -> CycleTimer:
        """A loop timer in wall time, or in sim time with `sim_clock` (then it waits for physics to advance)."""
        if not self.config.sim_clock:
            return CycleTimer(rate_hz)

        def sim_sleep(dt: float) -> None:
            until = self.sim_time + dt
            while self._running.is_set() and self.sim_time < until:
                time.sleep(0.001)

        return CycleTimer(rate_hz, clock=lambda: self.sim_time, sleep=sim_sleep)

    def _camera_loop(self, on_frames: Callable[[dict[str, np.ndarray], float, SimCameraRig], None]) -> None:
        cfg = self.config
        rig = SimCameraRig(self.sim.model, cfg.cameras, cfg.camera_width, cfg.camera_height, cfg.render_meshes)
        self.camera_rig = rig
        timer = self._sensor_timer(cfg.camera_rate_hz)
        version = -1
        try:
            while self._running.is_set():
                try:
                    if self.params is not None and self.version != version:
                        version = self.version
                        rig.apply_visuals(self.params)
                    snap = self.snapshot()
                    on_frames(rig.render(snap), snap.sim_time if cfg.sim_clock else snap.wall_time, rig)
                except Exception as exc:
                    self.sensor_error = f"camera: {type(exc).__name__}: {exc}"
                timer.wait()
        finally:
            rig.close()

    def _tactile_loop(self, on_tactile: Callable[[np.ndarray, np.ndarray, float], None]) -> None:
        timer = self._sensor_timer(self.config.tactile_rate_hz)
        last = 0.0
        while self._running.is_set():
            try:
                reading = self.tactile_reading(after_s=last)
                if reading is not None:
                    last = reading[2]
                    on_tactile(*reading)
            except Exception as exc:
                self.sensor_error = f"tactile: {type(exc).__name__}: {exc}"
            timer.wait()

    sensor_error: str = ""
    flight_note: str = ""
    camera_rig: SimCameraRig | None = None
