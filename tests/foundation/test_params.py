"""Parameter files: ROS 2 format, checked against the graph, one-line errors naming file and key."""

from __future__ import annotations

import pytest

from rstack import graph
from rstack.params import ParamError, load_overrides, resolve


def _write(tmp_path, text):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    return f


def test_override_merges_over_defaults_with_types(tmp_path):
    f = _write(tmp_path, "franka:\n  ros__parameters:\n    state_rate_hz: 200\n    robot_ip: 127.0.0.5\n")
    res = resolve(graph.profile("sim"), load_overrides(f), source=str(f))
    assert res["franka"]["state_rate_hz"] == 200.0 and isinstance(res["franka"]["state_rate_hz"], float)
    assert res["franka"]["robot_ip"] == "127.0.0.5"
    assert res["franka"]["max_force_n"] == graph.FRANKA.parameters["max_force_n"]


def test_profile_values_sit_between_defaults_and_overrides():
    res = resolve(graph.profile("sim"), {})
    assert res["franka"]["robot_ip"] == "127.0.0.1"  # sim profile's value over the kind default


def test_wildcard_applies_to_nodes_that_have_the_key(tmp_path):
    f = _write(tmp_path, "/**:\n  ros__parameters:\n    seed: 7\n")
    res = resolve(graph.profile("sim"), load_overrides(f))
    assert res["sim_world"]["seed"] == 7
    assert "seed" not in res["franka"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "franka:\n  ros__parameters:\n    state_rate_hz: fast\n",
            r"p\.yaml: franka\.ros__parameters\.state_rate_hz: expected double, got string 'fast'",
        ),
        (
            "franka:\n  ros__parameters:\n    max_force: 3.0\n",
            r"p\.yaml: franka\.ros__parameters\.max_force: unknown parameter \(known: .*max_force_n",
        ),
        ("frank:\n  ros__parameters: {}\n", r"p\.yaml: node 'frank' is not in profile 'sim'"),
        (
            "franka:\n  ros__parameters:\n    workspace_min: [0.1, x, 0.2]\n",
            r"franka\.ros__parameters\.workspace_min\[1\]: expected double, got string 'x'",
        ),
        ("franka:\n  state_rate_hz: 3\n", r"p\.yaml: franka: expected a 'ros__parameters' mapping"),
        ("franka: [\n", r"p\.yaml: not valid YAML at line 2"),
        ("franka:\n  ros__parameters:\n    watchdog_timeout_s: true\n", r"expected double, got bool True"),
    ],
)
def test_bad_parameter_files_are_one_line_errors(tmp_path, text, message):
    f = _write(tmp_path, text)
    with pytest.raises(ParamError, match=message) as err:
        resolve(graph.profile("sim"), load_overrides(f), source=str(f))
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ParamError, match="parameter file not found"):
        load_overrides(tmp_path / "nope.yaml")
