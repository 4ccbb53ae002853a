"""Thin rclpy nodes; logic lives in policy_runtime/, hardware/ and calibration/."""
