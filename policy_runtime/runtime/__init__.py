"""Real-time scheduling of the Reactive Diffusion Policy (ROS-free).

The slow planner runs in its own thread and posts `Plan`s (latest wins); the fast head runs at the control
rate in another thread, never waits for the planner, indexes into the newest plan by the time elapsed since
the observation it was planned from, re-decodes with the touch frames seen since then, and passes every
action through an `ActionGuard` before anything can be sent.
"""

from policy_runtime.runtime.guard import ActionGuard, GuardLimits
from policy_runtime.runtime.loops import FastLoop, PlannerLoop
from policy_runtime.runtime.plan import Plan, PlanSlot
from policy_runtime.runtime.reactive import FastHead, ReactiveRuntime, TickResult, TouchHistory

__all__ = [
    "ActionGuard",
    "FastHead",
    "FastLoop",
    "GuardLimits",
    "Plan",
    "PlanSlot",
    "PlannerLoop",
    "ReactiveRuntime",
    "TickResult",
    "TouchHistory",
]
