"""ament_python package `rstack`: rclpy nodes, graph description, launcher and CLI.

The node executables below are the single list the graph description (rstack.graph) refers to;
a test checks that every executable a profile names is registered here.
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "rstack"
NODES = {
    "sim_world_node": "rstack.nodes.sim_world_node:main",
    "franka_node": "rstack.nodes.franka_node:main",
    "camera_node": "rstack.nodes.camera_node:main",
    "tactile_node": "rstack.nodes.tactile_node:main",
    "policy_node": "rstack.nodes.policy_node:main",
    "fiper_node": "rstack.nodes.fiper_node:main",
    "teleop_node": "rstack.nodes.teleop_node:main",
    "recorder_node": "rstack.nodes.recorder_node:main",
}
launch_dir = Path(__file__).resolve().parents[3] / "launch"
launch_files = [str(p) for p in sorted(launch_dir.glob("*.launch.py"))] if launch_dir.is_dir() else []

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["fastdds_profile.xml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", launch_files),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="rstack maintainers",
    description="rclpy nodes, graph description, launcher and CLI of the robot control stack",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in NODES.items()] + ["rstack = rstack.cli:main"],
    },
)
