"""ONNX export of the trained policy into a bundle directory (ONNX graphs + bundle.json)."""
