"""Closed-loop evaluation helpers (ROS-free): baseline controllers and success-rate summaries."""
