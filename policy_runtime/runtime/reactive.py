"""The fast, touch-reactive half of the policy: one `tick` per control period.

Each tick takes the newest plan (latest wins, no averaging), computes the step index into its chunk from the
time elapsed since the plan's observation stamp (so planner latency is compensated explicitly instead of by
a fixed skip), runs the decoder one step per action period (the rate the policy was trained at) since the
chunk began, feeding each step the touch frame that was newest at that step's time, and passes the resulting
absolute target through the guard. A control rate above the action rate ticks between action steps: such a
tick decodes the current step again with the newest touch, so every tick reacts to fresh touch while the
chunk plays out at the speed it was trained at.
When a new plan arrives mid-chunk, the decoder catches up over the steps already elapsed with the recorded
touch history (RDP's "re-decode with the touch frames since the chunk started").
A new plan rarely starts where the last one was: successive samples of a diffusion planner differ (by 43 mm
at times in the sim). Its targets start at the last target sent and the offset fades out over
`switch_blend_s`, so a plan switch is a short glide instead of a step the guard must refuse (which froze the
arm until the watchdog held it). An offset beyond `max_switch_offset_m` is not blended: the guard judges it.

Steady state costs one decoder step per tick, writes into preallocated buffers, and takes no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from policy_runtime.runtime.guard import ActionGuard
from policy_runtime.runtime.plan import Plan, PlanSlot


class FastHead(Protocol):
    """The tokenizer decoder run step by step (`policy_runtime.engine.FastHead` on onnxruntime)."""

    def start(self, latent: np.ndarray) -> None:
        """Begin a chunk: set its latent and reset the recurrent state."""
        ...

    def step(self, touch: np.ndarray) -> np.ndarray:
        """One decoder step with this step's touch features -> action relative to the plan's base pose."""
        ...

    def restep(self, touch: np.ndarray) -> np.ndarray:
        """The last step again, from the state before it, with newer touch features."""
        ...

    def warm(self) -> object:
        """The next step's decode on scratch data, with no effect on the head's state (see `ReactiveRuntime.warm`)."""
        ...


class TouchHistory:
    """Ring buffer of (stamp, feature vector), preallocated; `at(t)` is the newest sample at or before t."""

    def __init__(self, dim: int, capacity: int = 512) -> None:
        self.dim = dim
        self.stamps = np.full(capacity, -np.inf)
        self.values = np.zeros((capacity, dim), dtype=np.float32)
        self.capacity = capacity
        self.count = 0

    def push(self, stamp_s: float, features: np.ndarray) -> None:
        if features.shape != (self.dim,):
            raise ValueError(f"touch features must have shape ({self.dim},), got {features.shape}")
        i = self.count % self.capacity
        self.stamps[i] = stamp_s
        self.values[i] = features
        self.count += 1

    def newest_stamp(self) -> float | None:
        return None if self.count == 0 else float(self.stamps[(self.count - 1) % self.capacity])

    def at(self, t: float) -> np.ndarray | None:
        """Newest sample with stamp <= t (None if there is none in the buffer)."""
        if self.count == 0:
            return None
        # Walk back from the newest: the caller asks for recent times, so this is a few steps.
        n = min(self.count, self.capacity)
        for k in range(n):
            i = (self.count - 1 - k) % self.capacity
            if self.stamps[i] <= t:
                return self.values[i]
        return None


@dataclass
class TickResult:
    """What one tick decided: a target to send, or the reason to hold."""

    target: np.ndarray | None
    reason: str | None
    plan_seq: int = -1
    step: int = -1
    decoder_steps: int = 0
    touch_stamp_s: float = float("nan")  # capture stamp of the newest touch sample the target was decoded with


def translate_codec(action: np.ndarray, base_pose: np.ndarray) -> np.ndarray:
    """Relative action [dx, dy, dz, (gripper...)] in the base frame -> absolute [xyz, quat(base), gripper...]."""
    out = np.empty(7 + max(0, action.shape[0] - 3), dtype=np.float64)
    out[:3] = base_pose[:3] + action[:3]
    out[3:7] = base_pose[3:7]
    out[7:] = action[3:]
    return out


class ReactiveRuntime:
    """Decodes the newest plan at the control rate; never waits for the planner."""

    def __init__(
        self,
        head: FastHead,
        slot: PlanSlot,
        touch: TouchHistory,
        action_rate_hz: float,
        horizon: int,
        guard: ActionGuard,
        to_target: Callable[[np.ndarray, np.ndarray], np.ndarray] = translate_codec,
        max_touch_age_s: float = 0.25,
        switch_blend_s: float = 0.0,
        max_switch_offset_m: float = 0.0,
    ) -> None:
        self.head = head
        self.horizon = horizon
        self.slot = slot
        self.touch = touch
        self.dt = 1.0 / action_rate_hz
        self.guard = guard
        self.to_target = to_target
        self.max_touch_age_s = max_touch_age_s
        self._plan: Plan | None = None
        self._decoded = -1
        self._action: np.ndarray | None = None
        self._touch_used = float("-inf")  # stamp of the touch sample the current step was decoded with
        self.switch_blend_s = switch_blend_s
        self.max_switch_offset_m = max_switch_offset_m
        self._switch_pending = False
        self._offset: np.ndarray | None = None  # last target - the new plan's first target, at a plan switch
        self._offset_at = 0.0
        self.switches_blended = 0

    def tick(self, now_s: float, measured_xyz: np.ndarray | None = None) -> TickResult:
        plan = self.slot.latest()
        if plan is None:
            return TickResult(None, "no plan yet")
        self._adopt(plan)
        step = self._step_at(plan, now_s)
        # A sensor fault first: it is the cause when the plan also ran out (no fresh observation to plan from).
        newest_touch = self.touch.newest_stamp()
        if newest_touch is None:
            return TickResult(None, "no touch signal yet", plan.seq, step)
        if now_s - newest_touch > self.max_touch_age_s:
            return TickResult(None, f"touch stale: {now_s - newest_touch:.3f} s old", plan.seq, step)
        if step >= self.horizon:
            return TickResult(None, f"plan {plan.seq} expired: {now_s - plan.obs_stamp_s:.3f} s old", plan.seq, step)
        n = self._decode_through(plan, step, now_s, in_tick=True)
        if n:
            self._touch_used = newest_touch
        elif newest_touch > self._touch_used:  # between action steps, with a newer touch: re-decode this step
            features = self.touch.at(now_s)
            assert features is not None
            self._action = self.head.restep(features)
            self._touch_used = newest_touch
            n = 1
        assert self._action is not None
        target = self._blended(self.to_target(self._action, plan.base_pose), now_s)
        reason = self.guard.check(target, measured_xyz)
        if reason is not None:
            return TickResult(None, reason, plan.seq, step, n)
        return TickResult(target, None, plan.seq, step, n, self._touch_used)

    def prepare(self, now_s: float) -> int:
        """Take a new plan between ticks: start the decoder on it and decode the steps that lie wholly in the past
        (those before the action step current at `now_s`, each with the touch newest at its time), so that the tick
        which uses the plan decodes only its own step. The tick would decode them with the same touch samples, so
        the targets are the same (tested); only the work moves off the touch -> target path. Returns the number of
        steps decoded. Runs in the fast head's thread (it changes the decoder's state)."""
        plan = self.slot.latest()
        if plan is None:
            return 0
        self._adopt(plan)
        upto = self._step_at(plan, now_s) - 1
        if upto >= self.horizon - 1:  # expired, or will be by the tick: the tick holds
            return 0
        return self._decode_through(plan, upto, now_s, in_tick=False)

    def _decode_through(self, plan: Plan, last: int, now_s: float, in_tick: bool) -> int:
        """Decode `plan`'s steps after the last one decoded, up to `last`, each with the touch newest at its time;
        returns how many. In a tick `last` is the current step and gets the touch newest at `now_s`, and a step older
        than the touch buffer gets the oldest the chunk can have seen; outside a tick (`prepare`) such a step, and
        the ones after it, are left to the tick."""
        n = 0
        while self._decoded < last:
            k = self._decoded + 1
            t_k = now_s if in_tick and k == last else plan.obs_stamp_s + k * self.dt
            features = self.touch.at(t_k)
            if features is None:  # older than the buffer
                if not in_tick:
                    break
                features = self.touch.at(now_s)
            self._action = self.head.step(features)
            self._decoded = k
            n += 1
        return n

    def _adopt(self, plan: Plan) -> None:
        """Make `plan` the one decoded (if it is new): the decoder starts over on its latent."""
        if self._plan is None or plan.seq != self._plan.seq:
            self.head.start(plan.latent)
            self._plan, self._decoded, self._action = plan, -1, None
            self._touch_used = float("-inf")
            self._switch_pending, self._offset = True, None

    def _step_at(self, plan: Plan, now_s: float) -> int:
        """The action step of `plan` current at `now_s` (from the time elapsed since its observation)."""
        return max(int((now_s - plan.obs_stamp_s) / self.dt + 1e-6), 0)  # tolerate float rounding at period edges

    def warm(self, now_s: float) -> None:
        """A tick's work on scratch data, with no effect: the decoder step, the touch lookup, the target and the
        guard's arithmetic. Run shortly before a tick is due so that the tick finds its code and data in the caches
        (see `FastLoop`); what it computes is thrown away."""
        self.head.warm()
        self.touch.at(now_s)
        plan, action = self._plan, self._action
        if plan is not None and action is not None:
            self.guard.reason(self.to_target(action, plan.base_pose))

    def _blended(self, target: np.ndarray, now_s: float) -> np.ndarray:
        """`target` shifted by the fading plan-switch offset (see the module docstring)."""
        if self._switch_pending:
            self._switch_pending = False
            last = self.guard.last
            if last is not None and self.switch_blend_s > 0:
                offset = last[:3] - target[:3]
                if float(np.linalg.norm(offset)) <= self.max_switch_offset_m:
                    self._offset, self._offset_at = offset, now_s
                    self.switches_blended += 1
        if self._offset is None:
            return target
        w = 1.0 - (now_s - self._offset_at) / self.switch_blend_s
        if w <= 0.0:
            self._offset = None
            return target
        out = np.array(target, dtype=np.float64)
        out[:3] += w * self._offset
        return out
