"""Marker-based optical tactile sensors and the 6-D force/torque touch input (ROS-free)."""
