"""`rstack demo` (the main job of `make demo`) brings the sim graph up, reports live rates, stops cleanly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.franky_sim_server import random_loopback_host

pytestmark = [pytest.mark.ros, pytest.mark.sim]


def test_demo_reports_live_topic_rates_and_exits_cleanly():
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "rstack"),
            "demo",
            "--watch",
            "--duration",
            "3",
            "--host",
            random_loopback_host(),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    rates = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(/\S+)\s+([\d.]+) Hz$", out, re.M)}
    assert rates["/franka/joint_states"] > 10, rates
    assert rates["/camera/external/image_raw"] > 0 and rates["/tactile/tool/embedding"] > 0, rates
    assert "launcher exit code 0" in out


def test_the_demo_hands_eval_every_option_it_knows_with_evals_own_defaults():
    """The demo's closed loop runs `rstack eval`: its arguments must be a complete eval namespace (an option
    added to eval and missing here failed `make demo` at once with an AttributeError)."""
    from rstack.cli import build_parser
    from rstack.commands.demo import eval_namespace

    parser = build_parser()
    demo = parser.parse_args(["demo", "--episodes", "3", "--scenarios", "nominal,push"])
    ns = eval_namespace(demo, "bundles/wipe_sim", "bundles/wipe_sim/monitor")
    defaults = {k: v for k, v in vars(parser.parse_args(["eval"])).items() if k != "command"}  # the CLI's own
    assert set(vars(ns)) == set(defaults)
    assert ns.episodes == 3 and ns.scenario == "nominal,push" and ns.policy == "bundles/wipe_sim"
    assert ns.live_monitor and ns.monitor == "bundles/wipe_sim/monitor" and ns.record
    assert ns.flight_log == defaults["flight_log"] and ns.control_thread_priority == defaults["control_thread_priority"]
    no_monitor = eval_namespace(demo, "bundles/wipe_sim", "")
    assert not no_monitor.live_monitor and no_monitor.monitor == ""


def test_eval_runs_the_sim_slower_on_request_and_refuses_a_bad_factor():
    from rstack.cli import build_parser
    from rstack.commands.sim import sim_overrides

    parser = build_parser()
    world = sim_overrides(parser.parse_args(["eval", "--sim-slowdown", "2.5"]), "127.0.0.9")["sim_world"]
    assert world["ros__parameters"]["realtime"] == 2.5  # franky-sim's pacing: 2.5 ms of wall time per 1 ms step
    plain = sim_overrides(parser.parse_args(["eval"]), "127.0.0.9")["sim_world"]["ros__parameters"]
    assert "realtime" not in plain  # the world's own default (real time)
    for bad in ("0.5", "nan", "50"):
        res = subprocess.run(
            [str(Path(sys.executable).parent / "rstack"), "eval", "--expert", "--sim-slowdown", bad],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 2 and "--sim-slowdown must be in [1, 20]" in res.stderr, (bad, res.stderr)


def test_eval_passes_typed_policy_params_and_refuses_unknown_or_mistyped_ones():
    import pytest

    from rstack.commands.eval import policy_params

    got = policy_params(["coherent_samples=false", "plan_switch_blend_s=0", "num_samples=16"])
    assert got == {"coherent_samples": False, "plan_switch_blend_s": 0.0, "num_samples": 16}
    assert isinstance(got["plan_switch_blend_s"], float)  # the node declares a double: an int 0 would not load
    for bad, message in (
        ("no_such_param=1", "KEY one of"),
        ("coherent_samples", "KEY one of"),
        ("coherent_samples=maybe", "expected bool"),
        ("policy_dir=/tmp", "sets it itself"),
    ):
        with pytest.raises(ValueError, match=message):
            policy_params([bad])
    res = subprocess.run(
        [str(Path(sys.executable).parent / "rstack"), "eval", "--expert", "--policy-param", "num_samples=many"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "--policy-param num_samples: expected integer" in res.stderr, res.stderr
