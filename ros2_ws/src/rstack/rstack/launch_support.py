"""Build a ros2 launch description from the graph description (used by the files in launch/).

`launch` and `launch_ros` come with a system ROS 2 install (they are not available as wheels); they are
imported only when a launch file is actually used. The nodes, names and parameters come from the same
graph + parameter resolution as `rstack up`, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from rstack import graph, params


def node_actions_spec(profile_name: str, params_file: str | None = None) -> list[dict[str, Any]]:
    """Keyword arguments of one launch_ros Node per node of the profile (validated like `rstack up`)."""
    prof = graph.profile(profile_name)
    overrides = params.load_overrides(params_file) if params_file else {}
    resolved = params.resolve(prof, overrides, source=str(params_file or "params"))
    return [
        {
            "package": "rstack",
            "executable": inst.kind.executable,
            "name": inst.name,
            "parameters": [resolved[inst.name]],
            "output": "screen",
            "required": inst.required,
        }
        for inst in prof.nodes
    ]


def generate_for_profile(profile_name: str):  # -> launch.LaunchDescription
    """The LaunchDescription for a profile; `params:=FILE` gives overrides in the ROS 2 parameter-file format."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def nodes(context: Any) -> list[Any]:
        params_file = LaunchConfiguration("params").perform(context) or None
        actions = []
        for spec in node_actions_spec(profile_name, params_file):
            required = spec.pop("required")
            on_exit = Shutdown(reason=f"required node {spec['name']} exited") if required else None
            actions.append(Node(**spec, on_exit=on_exit))
        return actions

    return LaunchDescription(
        [
            DeclareLaunchArgument("params", default_value="", description="ROS 2 parameter file with overrides"),
            OpaqueFunction(function=nodes),
        ]
    )
