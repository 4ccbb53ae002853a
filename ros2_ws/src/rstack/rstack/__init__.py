"""rstack: rclpy nodes, graph description, launcher and CLI."""
