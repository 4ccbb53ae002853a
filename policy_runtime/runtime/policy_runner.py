"""The policy as the policy node runs it, minus ROS: observations in, targets and monitor features out.

- Sensor samples are pushed with their capture stamps into one `ObsSync` (cameras, TCP pose, gripper
  width, touch). The planner thread asks it for `obs_steps` observations `obs_stride` control periods
  apart, ending at "now"; a missing, stale or skewed stream is a reason to hold, never a guess.
- The planner runs `engine.planner_step` (full DDIM or streaming) for B samples in one batch; all B are
  decoded to absolute end-effector positions for the failure monitor, and the one that best continues the
  chunk executed before is executed (`CoherentChoice`; sample 0 with `coherent_samples` off). With
  `planner_process` it runs in a child process (`PlannerProcess`), so its numpy work never holds the
  GIL the fast thread needs. Given an `image_feed` too, that child also receives the camera frames and
  aligns them (`CameraWindow`) with the pose/gripper/touch window assembled here: no image then passes
  through the process that publishes targets.
- The fast loop ticks `ReactiveRuntime` at the control rate with the touch history, and sends only
  targets that passed the `ActionGuard`.
- A non-finite sample (NaN/Inf pose, width or touch) is dropped and counted, never buffered: the
  networks do not reliably propagate NaN (onnxruntime's GRU turns a NaN input into finite output), so
  bad data is stopped at the door, and its stream then goes stale and the policy holds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hardware.timing import SampleRing
from policy_runtime.engine.policy_engine import PolicyEngine, planner_step
from policy_runtime.models.action_space import relative_action_to_target, relative_positions_to_absolute
from policy_runtime.obs_sync import ObsSync
from policy_runtime.runtime.camera_window import ImageFeed
from policy_runtime.runtime.coherence import CoherentChoice
from policy_runtime.runtime.guard import ActionGuard, GuardLimits
from policy_runtime.runtime.loops import FastLoop, PlannerLoop
from policy_runtime.runtime.plan import Plan, PlanSlot
from policy_runtime.runtime.planner_process import ChildImages, PlannerProcess
from policy_runtime.runtime.reactive import ReactiveRuntime, TickResult, TouchHistory
from policy_runtime.training.dataset import resize_image

TCP, GRIPPER, TOUCH = "tcp_pose", "gripper_width", "touch"
HOLD_RESETS_GUARD_S = 0.5


@dataclass(frozen=True)
class RunnerConfig:
    control_rate_hz: float = 24.0
    planner_rate_hz: float = 6.0
    num_samples: int = 16
    streaming: bool = False
    max_skew_s: float = 0.1
    max_age_s: float = 0.25
    max_action_jump_m: float = 0.03
    # A new plan's targets glide from the last target sent over this long (0: off); offsets above
    # 2 x max_action_jump_m are not blended but judged by the guard.
    plan_switch_blend_s: float = 0.3
    coherent_samples: bool = True  # execute the sample closest to the previous chunk (see CoherentChoice)
    seed: int = 0
    tick_on_touch: bool = True  # a touch sample triggers the next fast tick at once (see FastLoop)
    # Monitor features only while engaged (the monitor watches the policy in control); True publishes them
    # while disengaged too (shadow runs beside another controller).
    features_when_disengaged: bool = False
    planner_process: bool = False  # True: the planner's graphs run in a child process (see PlannerProcess)
    planner_nice: int = 0  # with planner_process: niceness added to the child (lower CPU priority)
    prewarm_ms: float = 1.0  # run the tick's work on scratch data this long before each tick is due (0: off)

    def __post_init__(self) -> None:
        for name in ("control_rate_hz", "planner_rate_hz", "max_action_jump_m", "max_age_s", "max_skew_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not (math.isfinite(self.plan_switch_blend_s) and self.plan_switch_blend_s >= 0):
            raise ValueError(f"plan_switch_blend_s must be >= 0 (0: off), got {self.plan_switch_blend_s!r}")


class PolicyRunner:
    """Owns the observation buffer, the planner thread and the fast-head thread."""

    def __init__(
        self,
        engine: PolicyEngine,
        config: RunnerConfig,
        clock: Callable[[], float],
        publish_target: Callable[[np.ndarray, float], None],
        publish_features: Callable[[int, np.ndarray, np.ndarray], None],
        image_feed: ImageFeed | None = None,
    ) -> None:
        """`image_feed` (with `config.planner_process`): the planner process receives the camera frames
        itself through it, and `push_image` is not used; this process then never handles an image."""
        self.engine = engine
        self.config = config
        self.clock = clock
        self.publish_target = publish_target
        self.publish_features = publish_features
        s = engine.bundle.shapes
        self.cameras = list(engine.cameras)
        self.image_size = (int(s["image_size"][0]), int(s["image_size"][1]))
        self.obs_steps = int(s["obs_steps"])
        # The chunk's steps and the observation stride are in the rate the policy was trained at (the dataset's);
        # the control rate is only how often the fast head ticks.
        self.action_rate_hz = float(engine.bundle.rates.get("control_hz", config.control_rate_hz))
        self.obs_dt = int(s["obs_stride"]) / self.action_rate_hz
        self.touch_dim = int(s["touch_dim"])
        self.images_in_child = bool(config.planner_process and image_feed is not None)
        streams = ([] if self.images_in_child else [f"img_{c}" for c in self.cameras]) + [TCP, GRIPPER, TOUCH]
        self.sync = ObsSync(streams, max_skew_s=config.max_skew_s, max_age_s=config.max_age_s, history=64)
        self.touch = TouchHistory(self.touch_dim, capacity=512)
        self.slot = PlanSlot()
        self.guard = ActionGuard(GuardLimits(max_jump_m=config.max_action_jump_m))
        self.runtime = ReactiveRuntime(
            engine.fast_head(),
            self.slot,
            self.touch,
            self.action_rate_hz,
            int(s["horizon"]),
            self.guard,
            to_target=relative_action_to_target,  # decoded action relative to the TCP at the observation
            max_touch_age_s=config.max_age_s,
            switch_blend_s=config.plan_switch_blend_s,
            max_switch_offset_m=2.0 * config.max_action_jump_m,
        )
        self.rng = np.random.default_rng(config.seed)
        self.choice = CoherentChoice(1.0 / self.action_rate_hz, config.coherent_samples)
        self.remote: PlannerProcess | None = None
        self.stream = None
        if config.planner_process:
            images = ChildImages(image_feed, config.max_skew_s, config.max_age_s) if self.images_in_child else None
            self.remote = PlannerProcess(
                engine.bundle.root,
                config.num_samples,
                config.streaming,
                config.seed,
                config.planner_nice,
                images=images,
            )
        elif config.streaming:
            self.stream = engine.streaming_buffer(config.num_samples, self.rng)
        self.step = 0
        self.hold_reason = "starting"
        self.holds: dict[str, int] = {}
        self.bad_inputs: dict[str, int] = {}
        self.sent = 0
        self._tcp_xyz: np.ndarray | None = None
        self._lock = threading.Lock()
        self.engaged = True
        self._engaged_at = float("-inf")
        self._last_sent_t = float("-inf")
        self.touch_to_target_ms = SampleRing(5000)
        self.touch_arrival_ms = SampleRing(5000)  # capture stamp -> handed to push_touch
        self.planner = PlannerLoop(
            self.plan_once,
            self.slot,
            config.planner_rate_hz,
            bulk=not config.planner_process,
            pace_clock=clock,
            on_post=lambda: self.fast.plan_posted(),
        )
        self.fast = FastLoop(
            self.runtime,
            config.control_rate_hz,
            self._send,
            self._hold,
            now=clock,
            measured_xyz=lambda: self._tcp_xyz,
            prewarm=lambda: self.runtime.warm(self.clock()),
            prewarm_s=config.prewarm_ms * 1e-3,
            prepare=lambda: self.runtime.prepare(self.clock()),
        )

    # ------------------------------------------------------------------ inputs (any thread)
    def _finite(self, stream: str, value: np.ndarray | float) -> bool:
        if np.all(np.isfinite(value)):
            return True
        with self._lock:
            self.bad_inputs[stream] = self.bad_inputs.get(stream, 0) + 1
        return False

    def push_image(self, camera: str, stamp_s: float, rgb: np.ndarray) -> None:
        if self.images_in_child:
            raise RuntimeError("this runner's planner process receives the camera frames itself")
        self.sync.push(f"img_{camera}", stamp_s, resize_image(rgb, self.image_size))

    def push_tcp_pose(self, stamp_s: float, pose: np.ndarray) -> None:
        if self._finite(TCP, pose):
            self.sync.push(TCP, stamp_s, pose)
            self._tcp_xyz = pose[:3]

    def push_gripper_width(self, stamp_s: float, width_m: float) -> None:
        if self._finite(GRIPPER, width_m):
            self.sync.push(GRIPPER, stamp_s, float(width_m))

    def push_touch(self, stamp_s: float, features: np.ndarray) -> None:
        if features.shape != (self.touch_dim,):
            raise ValueError(f"touch features must have shape ({self.touch_dim},), got {features.shape}")
        if self._finite(TOUCH, features):
            self.touch_arrival_ms.append((self.clock() - stamp_s) * 1e3)
            self.sync.push(TOUCH, stamp_s, features)
            self.touch.push(stamp_s, features)
            if self.config.tick_on_touch:
                self.fast.trigger()

    # ------------------------------------------------------------------ planner thread
    def plan_once(self) -> Plan | str:
        """One planner step at the current time, or the reason there is none."""
        now = self.clock()
        times = [now - k * self.obs_dt for k in range(self.obs_steps - 1, -1, -1)]
        obs = []
        for t in times:
            res = self.sync.query(t)
            if not res.ok:
                return f"observation {res.reason}: {res.detail}"
            obs.append(res)
        proprio = np.array([[*o.values[TCP][:3], o.values[GRIPPER]] for o in obs], dtype=np.float32)
        touch = np.stack([o.values[TOUCH] for o in obs]).astype(np.float32)
        obs_stamp = max(obs[-1].stamps.values())
        if self.images_in_child:
            assert self.remote is not None
            spans = [(min(o.stamps.values()), max(o.stamps.values())) for o in obs]
            found = self.remote.step_at(times, spans, proprio, touch)
            if isinstance(found, str):
                return found
            out, image_stamp = found
            obs_stamp = max(obs_stamp, image_stamp)
        else:
            images = {c: np.stack([o.values[f"img_{c}"] for o in obs]) for c in self.cameras}
            if self.remote is not None:
                out = self.remote.step(images, proprio, touch)
            else:
                out = planner_step(
                    self.engine,
                    images,
                    proprio,
                    touch,
                    self.rng,
                    num_samples=self.config.num_samples,
                    stream=self.stream,
                )
        base_pose = np.asarray(obs[-1].values[TCP], dtype=np.float64)
        chunks_xyz = relative_positions_to_absolute(out.sampled_actions, base_pose).astype(np.float32)
        pick = self.choice.choose(chunks_xyz, obs_stamp)
        self.step += 1
        if self.engaged or self.config.features_when_disengaged:
            self.publish_features(self.step, out.obs_emb, chunks_xyz)
        extras = {"evaluations": out.evaluations, "sample": pick}
        return Plan(out.latents[pick], obs_stamp, base_pose, self.step, self.clock(), extras)

    # ------------------------------------------------------------------ fast thread
    def engage(self) -> None:
        """Act again, but only on plans made from observations taken from now on."""
        self._engaged_at = self.clock()
        self.choice.reset()  # a new episode: no chunk of before to continue
        self.guard.reset()  # the jump check starts again from the measured TCP, not a target of before
        self.engaged = True

    def disengage(self) -> None:
        """No more targets until `engage` (the planner keeps running, so re-engaging is quick)."""
        self.engaged = False

    def _send(self, target: np.ndarray, result: TickResult) -> None:
        if not self.engaged:
            self._hold("disengaged")
            return
        plan = self.slot.latest()
        if plan is None or plan.obs_stamp_s < self._engaged_at:
            self._hold("engaged: waiting for the first plan made after it")
            return
        self.hold_reason = ""
        now = self.clock()
        self._last_sent_t = now
        self.sent += 1
        self.publish_target(target, now)
        # Touch capture -> target published (its publish call returned), for the touch sample it was decoded with.
        self.touch_to_target_ms.append((self.clock() - result.touch_stamp_s) * 1e3)

    def _hold(self, reason: str) -> None:
        if self.clock() - self._last_sent_t > HOLD_RESETS_GUARD_S:
            # After a long hold the arm may be anywhere (stopped, moved by someone else): judge the next
            # target's jump against the measured TCP instead of the last target sent before the hold.
            self.guard.reset()
        self.hold_reason = reason
        key = reason.split(":", 1)[0]
        with self._lock:
            self.holds[key] = self.holds.get(key, 0) + 1

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.planner.start()
        self.fast.start()

    def stop(self) -> None:
        self.fast.stop()
        self.planner.stop()
        for thread, timeout in ((self.fast, 2.0), (self.planner, 5.0)):
            if thread.ident is not None:  # started
                thread.join(timeout=timeout)
        if self.remote is not None:
            self.remote.close()

    def status(self) -> dict[str, float | str | int]:
        jitter = self.fast.jitter_ms()
        lat = self.planner.latencies_s.values() * 1e3
        path = self.fast.path_ms.values()
        t2t = self.touch_to_target_ms.values()
        arrival = self.touch_arrival_ms.values()
        with self._lock:
            holds = dict(self.holds)
        return {
            "planner_step": self.step,
            "targets_sent": self.sent,
            "hold_reason": self.hold_reason or self.planner.last_reason,
            "planner_errors": self.planner.errors,
            "planner_ms_p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
            "fast_jitter_ms_p99": float(np.percentile(jitter, 99)) if jitter.size else float("nan"),
            "fast_path_ms_p50": float(np.percentile(path, 50)) if path.size else float("nan"),
            "fast_path_ms_p99": float(np.percentile(path, 99)) if path.size else float("nan"),
            "fast_ticks_on_touch": self.fast.triggered,
            "fast_ticks": self.fast.ticks,
            "fast_prewarms": self.fast.prewarms,
            **({"fast_prewarm_error": self.fast.prewarm_error} if self.fast.prewarm_error else {}),
            "fast_plans_prepared": self.fast.prepared,
            **({"fast_prepare_error": self.fast.prepare_error} if self.fast.prepare_error else {}),
            "touch_to_target_ms_p50": float(np.percentile(t2t, 50)) if t2t.size else float("nan"),
            "touch_to_target_ms_p99": float(np.percentile(t2t, 99)) if t2t.size else float("nan"),
            "touch_to_target_samples": int(t2t.size),  # the latest targets only: the ring keeps 5000
            "touch_arrival_ms_p50": float(np.percentile(arrival, 50)) if arrival.size else float("nan"),
            "touch_arrival_ms_p99": float(np.percentile(arrival, 99)) if arrival.size else float("nan"),
            "guard_rejections": sum(self.guard.rejections.values()),
            "held_ticks": ", ".join(f"{k} {n}" for k, n in sorted(holds.items(), key=lambda kv: -kv[1])),
            "plan_switches_blended": self.runtime.switches_blended,
            "coherent_picks_not_sample0": self.choice.switched,
            "bad_inputs": sum(self.bad_inputs.values()),
            **(self.remote.camera_stats if self.remote is not None else {}),
        }
