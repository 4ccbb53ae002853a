"""ros2 launch rstack sim.launch.py: the 'sim' profile of rstack.graph.

The same nodes and parameters as `rstack up --profile sim`.

Parameter overrides: ros2 launch rstack sim.launch.py params:=/path/to/params.yaml
"""

from rstack.launch_support import generate_for_profile


def generate_launch_description():
    return generate_for_profile("sim")
