"""FIPER failure monitor: RND + action-chunk entropy, window sums, conformal thresholds, AND rule.

Modules: `rnd` (OOD score, ONNX), `ace` (chunk entropy), `window`, `conformal`, `rule`, `metrics`,
`artifacts` (on-disk monitor tied to a policy), `rollouts` (calibration input format), `calibrate`,
`monitor` (run-time FailureMonitor), `messages` + `pairing` (the ROS wire format, ROS-free).
"""
