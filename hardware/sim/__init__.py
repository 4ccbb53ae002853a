"""The simulated world: franky-sim's MuJoCo FR3 + a wiping task, sim cameras, sim tactile, scripted expert.

ROS-free. `world.SimWorld` runs franky-sim's libfranka server on the task scene; the ROS node
`rstack.nodes.sim_world_node` only publishes what it produces.
"""
