"""The ros2 launch files produce the same nodes and parameters as `rstack up`.

`launch` and `launch_ros` exist only in a system ROS 2 install (no wheels), so this test gives the launch
files minimal stand-ins for those two modules that record what the files build; everything behind them
(graph, parameter resolution, validation) is the real code `rstack up` uses.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from rstack import graph, params

ROOT = Path(__file__).resolve().parents[2]


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    value = ""

    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context[self.name]


@pytest.fixture
def launch_standins(monkeypatch):
    launch = types.ModuleType("launch")
    launch.LaunchDescription = lambda actions: list(actions)
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = _Recorded
    actions.OpaqueFunction = _Recorded
    actions.Shutdown = _Recorded
    subs = types.ModuleType("launch.substitutions")
    subs.LaunchConfiguration = _LaunchConfiguration
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = _Recorded
    for name, mod in {
        "launch": launch,
        "launch.actions": actions,
        "launch.substitutions": subs,
        "launch_ros": launch_ros,
        "launch_ros.actions": ros_actions,
    }.items():
        monkeypatch.setitem(sys.modules, name, mod)


def _nodes_of(profile: str, params_file: str = "") -> list[_Recorded]:
    spec = importlib.util.spec_from_file_location(f"{profile}_launch", ROOT / "launch" / f"{profile}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    declare, opaque = module.generate_launch_description()
    assert declare.args[0] == "params"
    return opaque.kwargs["function"]({"params": params_file})


@pytest.mark.parametrize("profile", sorted(graph.PROFILES))
def test_launch_file_matches_the_graph(launch_standins, profile):
    nodes = _nodes_of(profile)
    expected = params.resolve(graph.profile(profile), {})
    assert [n.kwargs["name"] for n in nodes] == graph.profile(profile).node_names()
    for n in nodes:
        inst = graph.profile(profile).node(n.kwargs["name"])
        assert n.kwargs["executable"] == inst.kind.executable and n.kwargs["package"] == "rstack"
        assert n.kwargs["parameters"] == [expected[inst.name]]
        assert (n.kwargs["on_exit"] is not None) == inst.required


def test_launch_file_applies_and_validates_overrides(launch_standins, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("franka:\n  ros__parameters:\n    state_rate_hz: 250\n")
    franka = next(n for n in _nodes_of("sim", str(good)) if n.kwargs["name"] == "franka")
    assert franka.kwargs["parameters"][0]["state_rate_hz"] == 250.0
    bad = tmp_path / "bad.yaml"
    bad.write_text("franka:\n  ros__parameters:\n    state_rate_hz: fast\n")
    with pytest.raises(params.ParamError, match="state_rate_hz: expected double"):
        _nodes_of("sim", str(bad))
