"""onnxruntime inference for the policy bundle (no torch needed): bundle loader, sessions, planner, fast head."""
