"""`rstack doctor`: what this machine has for the stack, each problem with a fix hint."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    hint: str = ""


def _python() -> Check:
    v = sys.version_info
    ok = v >= (3, 10)
    return Check(
        "python",
        OK if ok else FAIL,
        f"{platform.python_version()} at {sys.executable}",
        "" if ok else "use Python >= 3.10",
    )


def _rclpy() -> Check:
    try:
        import rclpy
        from rclpy.utilities import get_rmw_implementation_identifier
    except ImportError as exc:
        return Check(
            "rclpy",
            FAIL,
            f"not importable: {exc}",
            "source /opt/ros/jazzy/setup.bash, or run `make setup` to install the ROS 2 wheels",
        )
    rmw = get_rmw_implementation_identifier()
    domain = os.environ.get("ROS_DOMAIN_ID", "0 (default)")
    return Check("rclpy", OK, f"{os.path.dirname(rclpy.__file__)}; RMW {rmw}; ROS_DOMAIN_ID {domain}")


def _module(name: str, label: str, hint: str) -> Callable[[], Check]:
    def check() -> Check:
        try:
            mod = importlib.import_module(name)
        except Exception as exc:  # an import can fail in many ways (missing .so, ABI)
            return Check(label, FAIL, f"not importable: {exc}", hint)
        return Check(label, OK, f"{getattr(mod, '__version__', 'installed')}")

    return check


def _onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return Check(
            "onnxruntime",
            FAIL,
            f"not importable: {exc}",
            "pip install -e '.[cpu]' (or '.[gpu]' on the robot)",
        )
    providers = ort.get_available_providers()
    gpu = [p for p in providers if p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")]
    hint = "" if gpu else "CPU only; on a GPU robot install the gpu extra (onnxruntime-gpu) instead of cpu"
    return Check("onnxruntime", OK if gpu else WARN, f"{ort.__version__}; providers: {', '.join(providers)}", hint)


def _gpu() -> Check:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return Check(
            "gpu",
            WARN,
            "no NVIDIA driver found (nvidia-smi)",
            "the policy runs on CPU; fine in sim, slow on a robot",
        )
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("gpu", WARN, f"nvidia-smi failed: {exc}", "check the NVIDIA driver")
    return Check("gpu", OK, out or "present")


def _realsense() -> Check:
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        return Check("realsense", FAIL, f"pyrealsense2 not importable: {exc}", "sudo apt-get install -y libusb-1.0-0")
    devices = rs.context().query_devices()
    serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
    if not serials:
        return Check(
            "realsense",
            WARN,
            "SDK ok, no camera connected",
            "plug a camera in (USB 3) for the robot/teleop profiles",
        )
    return Check("realsense", OK, f"{len(serials)} camera(s): {', '.join(serials)}")


def _mujoco_gl() -> Check:
    backend = os.environ.get("MUJOCO_GL", "osmesa")
    code = (
        "import mujoco; "
        "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\".1\"/></worldbody></mujoco>');"
        "r = mujoco.Renderer(m, 16, 16); d = mujoco.MjData(m); r.update_scene(d); print(r.render().shape)"
    )
    try:
        res = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend},
        )
    except subprocess.TimeoutExpired:
        return Check(
            "mujoco-gl",
            FAIL,
            f"MUJOCO_GL={backend}: render timed out",
            "try MUJOCO_GL=osmesa (CPU) or egl (GPU)",
        )
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return Check(
            "mujoco-gl",
            FAIL,
            f"MUJOCO_GL={backend}: {last}",
            "sudo apt-get install -y libosmesa6 (MUJOCO_GL=osmesa), or MUJOCO_GL=egl on a GPU",
        )
    return Check("mujoco-gl", OK, f"MUJOCO_GL={backend} renders offscreen")


def _disk() -> Check:
    free_gb = shutil.disk_usage(os.getcwd()).free / 1e9
    if free_gb < 2:
        return Check(
            "disk",
            FAIL,
            f"{free_gb:.1f} GB free in {os.getcwd()}",
            "free space: recording refuses to start below its threshold",
        )
    return Check(
        "disk",
        OK if free_gb >= 20 else WARN,
        f"{free_gb:.1f} GB free in {os.getcwd()}",
        "" if free_gb >= 20 else "camera recordings take ~1 GB per few minutes",
    )


CHECKS: tuple[Callable[[], Check], ...] = (
    _python,
    _rclpy,
    _module("franky", "franky", "pip install franky-control"),
    _module("franky_sim", "franky-sim", "pip install -e '.[sim]'"),
    _onnxruntime,
    _gpu,
    _realsense,
    _mujoco_gl,
    _disk,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check Python, ROS 2, franky, onnxruntime, GPU, cameras, MuJoCo GL and disk")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    failed = 0
    for check in CHECKS:
        c = check()
        failed += c.status == FAIL
        print(f"{c.status:4s}  {c.name:12s} {c.detail}")
        if c.hint and c.status != OK:
            print(f"{'':18s}fix: {c.hint}")
    print(f"doctor: {'all essential checks passed' if not failed else f'{failed} check(s) failed'}")
    return 1 if failed else 0
