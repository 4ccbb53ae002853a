"""The ROS graph of the stack: topic names, message types, QoS, services, nodes and their parameters.

This module is the single source of truth. The nodes, `rstack up`, the ros2 launch files in
`launch/`, the recorder and `docs/interfaces.md` all read it; none of them spells a topic name.
It imports nothing from ROS, so it can be read (and tested) without a ROS installation; message
and QoS objects are resolved on demand by `rstack.ros_types`.

Per-device topics are templates (`/camera/{name}/image_raw`); a profile lists its device names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- QoS profiles
QOS_PROFILES: dict[str, dict[str, Any]] = {
    # High-rate sensor streams: newest wins, a late sample is worthless (rclpy's qos_profile_sensor_data).
    "sensor": {"reliability": "best_effort", "durability": "volatile", "depth": 5},
    # Commands to the arm: every target is delivered; depth 1 so a backlog never replays old targets.
    "command": {"reliability": "reliable", "durability": "volatile", "depth": 1},
    # Low-rate state and features other nodes must not miss.
    "reliable": {"reliability": "reliable", "durability": "volatile", "depth": 10},
    # Latched status: a late joiner receives the last value (transient local).
    "latched": {"reliability": "reliable", "durability": "transient_local", "depth": 1},
}


@dataclass(frozen=True)
class Topic:
    """A topic of the graph: its name (maybe a `{name}` template), message type, QoS profile and meaning."""

    name: str
    msg_type: str
    qos: str
    doc: str

    def resolve(self, **kw: str) -> str:
        """The concrete topic name for one device, e.g. `resolve(name="wrist")`."""
        return self.name.format(**kw)


@dataclass(frozen=True)
class Service:
    """A service of the graph."""

    name: str
    srv_type: str
    doc: str

    def resolve(self, **kw: str) -> str:
        return self.name.format(**kw)


# --------------------------------------------------------------------------- topics
DIAGNOSTICS = Topic(
    "/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", "reliable", "Health, rates, staleness, rejections"
)

FRANKA_JOINT_STATES = Topic(
    "/franka/joint_states", "sensor_msgs/msg/JointState", "sensor", "Arm joint positions/velocities/torques"
)
FRANKA_EE_POSE = Topic(
    "/franka/ee_pose",
    "geometry_msgs/msg/PoseStamped",
    "sensor",
    "Measured end-effector (TCP) pose, base frame",
)
FRANKA_WRENCH = Topic(
    "/franka/wrench",
    "geometry_msgs/msg/WrenchStamped",
    "sensor",
    "Estimated 6-D external wrench at the TCP (O_F_ext_hat_K), never the 7 joint torques",
)
FRANKA_GRIPPER_STATE = Topic(
    "/franka/gripper_state", "sensor_msgs/msg/JointState", "sensor", "Gripper width (m) and grasp state"
)
FRANKA_STATUS = Topic(
    "/franka/status",
    "std_msgs/msg/String",
    "latched",
    "Control mode as JSON: idle/following/holding/stopped/error, with the reason",
)
FRANKA_TARGET_POSE = Topic(
    "/franka/target_pose",
    "geometry_msgs/msg/PoseStamped",
    "command",
    "Cartesian TCP target (policy or teleop)",
)
FRANKA_TARGET_JOINTS = Topic(
    "/franka/target_joints", "sensor_msgs/msg/JointState", "command", "Joint-space target (positions)"
)
FRANKA_GRIPPER_COMMAND = Topic(
    "/franka/gripper_command",
    "std_msgs/msg/Float64MultiArray",
    "command",
    "Gripper command [width_m, speed_mps, force_n]; force > 0 grasps",
)

CAMERA_IMAGE = Topic("/camera/{name}/image_raw", "sensor_msgs/msg/Image", "sensor", "Color image, capture-stamped")
CAMERA_INFO = Topic("/camera/{name}/camera_info", "sensor_msgs/msg/CameraInfo", "sensor", "Intrinsics")
CAMERA_DEPTH = Topic(
    "/camera/{name}/depth/image_raw", "sensor_msgs/msg/Image", "sensor", "Depth aligned to color (16UC1, mm)"
)

TACTILE_IMAGE = Topic("/tactile/{name}/image_raw", "sensor_msgs/msg/Image", "sensor", "Raw tactile image")
TACTILE_MARKER_FLOW = Topic(
    "/tactile/{name}/marker_flow",
    "std_msgs/msg/Float32MultiArray",
    "sensor",
    "Marker displacement field [rows, cols, 2] in pixels; capture stamp in the layout (hardware.tactile.layout)",
)
TACTILE_EMBEDDING = Topic(
    "/tactile/{name}/embedding",
    "std_msgs/msg/Float32MultiArray",
    "sensor",
    "Normalized touch features (PCA of marker flow, or 6-D wrench); capture stamp in the layout",
)

POLICY_EMBEDDING = Topic(
    "/policy/embedding",
    "std_msgs/msg/Float32MultiArray",
    "reliable",
    "Observation embedding of each planner step (for the failure monitor)",
)
POLICY_SAMPLED_CHUNKS = Topic(
    "/policy/sampled_chunks",
    "std_msgs/msg/Float32MultiArray",
    "reliable",
    "B sampled action chunks as end-effector xyz [B, H, 3] of each planner step",
)
POLICY_STATUS = Topic("/policy/status", "std_msgs/msg/String", "latched", "Policy state as JSON (running/holding)")

FIPER_ALARM = Topic("/fiper/alarm", "std_msgs/msg/Bool", "latched", "Failure alarm (latched until reset)")
FIPER_SCORES = Topic(
    "/fiper/scores",
    "std_msgs/msg/Float32MultiArray",
    "sensor",
    "[rnd, rnd_threshold, ace, ace_threshold] windowed scores, for live plotting",
)

TELEOP_STATUS = Topic("/teleop/status", "std_msgs/msg/String", "latched", "Teleop device, deadman and episode keys")
RECORDER_STATUS = Topic("/recorder/status", "std_msgs/msg/String", "latched", "Recorder state and current episode")
CLOCK = Topic(
    "/clock",
    "rosgraph_msgs/msg/Clock",
    "sensor",
    "Sim time (sim profile): every node of the profile runs on it (use_sim_time), so a slow machine slows the "
    "whole loop instead of desynchronizing it",
)
SIM_EPISODE = Topic("/sim/episode", "std_msgs/msg/String", "latched", "Sim episode: seed, scenario, outcome (JSON)")
SIM_PRIVILEGED_STATE = Topic(
    "/sim/privileged_state",
    "std_msgs/msg/String",
    "sensor",
    "Sim ground truth for the scripted expert (JSON): table height, path, true pad force, coverage",
)

TOPICS: tuple[Topic, ...] = (
    DIAGNOSTICS,
    FRANKA_JOINT_STATES,
    FRANKA_EE_POSE,
    FRANKA_WRENCH,
    FRANKA_GRIPPER_STATE,
    FRANKA_STATUS,
    FRANKA_TARGET_POSE,
    FRANKA_TARGET_JOINTS,
    FRANKA_GRIPPER_COMMAND,
    CAMERA_IMAGE,
    CAMERA_INFO,
    CAMERA_DEPTH,
    TACTILE_IMAGE,
    TACTILE_MARKER_FLOW,
    TACTILE_EMBEDDING,
    POLICY_EMBEDDING,
    POLICY_SAMPLED_CHUNKS,
    POLICY_STATUS,
    FIPER_ALARM,
    FIPER_SCORES,
    TELEOP_STATUS,
    RECORDER_STATUS,
    CLOCK,
    SIM_EPISODE,
    SIM_PRIVILEGED_STATE,
)

# --------------------------------------------------------------------------- services
FRANKA_SAFE_STOP = Service("/franka/safe_stop", "std_srvs/srv/Trigger", "Decelerate, hold, reject targets until reset")
FRANKA_RESET = Service("/franka/reset", "std_srvs/srv/Trigger", "Clear a stop or recover from a reflex/error")
TACTILE_CAPTURE_REFERENCE = Service(
    "/tactile/{name}/capture_reference", "std_srvs/srv/Trigger", "Re-capture the no-contact reference frame"
)
POLICY_START = Service(
    "/policy/start", "std_srvs/srv/Trigger", "Engage the policy: act on the next plan made from now on"
)
POLICY_STOP = Service("/policy/stop", "std_srvs/srv/Trigger", "Disengage the policy: no more targets (the arm holds)")
FIPER_RESET = Service("/fiper/reset", "std_srvs/srv/Trigger", "Clear a latched alarm and the score windows")
RECORDER_START = Service("/recorder/start", "std_srvs/srv/Trigger", "Start an episode")
RECORDER_STOP_SUCCESS = Service("/recorder/stop_success", "std_srvs/srv/Trigger", "Finalize the episode as success")
RECORDER_STOP_FAILURE = Service("/recorder/stop_failure", "std_srvs/srv/Trigger", "Finalize the episode as failure")
RECORDER_DISCARD = Service("/recorder/discard", "std_srvs/srv/Trigger", "Delete the current take")
SIM_RESET_EPISODE = Service("/sim/reset_episode", "std_srvs/srv/Trigger", "Start a new seeded sim episode")
SIM_RELEASE = Service(
    "/sim/release", "std_srvs/srv/Trigger", "Lower the table 5 cm to free a stopped arm pressed into it (sim only)"
)

SERVICES: tuple[Service, ...] = (
    FRANKA_SAFE_STOP,
    FRANKA_RESET,
    TACTILE_CAPTURE_REFERENCE,
    POLICY_START,
    POLICY_STOP,
    FIPER_RESET,
    RECORDER_START,
    RECORDER_STOP_SUCCESS,
    RECORDER_STOP_FAILURE,
    RECORDER_DISCARD,
    SIM_RESET_EPISODE,
    SIM_RELEASE,
)


# --------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class NodeKind:
    """What a node executable does: its interface and default parameters (types are taken from the defaults)."""

    executable: str
    doc: str
    publishes: tuple[Topic, ...] = ()
    subscribes: tuple[Topic, ...] = ()
    serves: tuple[Service, ...] = ()
    calls: tuple[Service, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    # The launcher hands the node its terminal (stdin) so it can read keys, e.g. keyboard teleop.
    needs_terminal: bool = False


@dataclass(frozen=True)
class NodeInstance:
    """One node of a profile: a kind, its ROS node name, parameters over the kind's defaults, required flag."""

    name: str
    kind: NodeKind
    parameters: dict[str, Any] = field(default_factory=dict)
    required: bool = True

    def merged_parameters(self) -> dict[str, Any]:
        return {**self.kind.parameters, **self.parameters}

    def topics(self) -> list[tuple[str, Topic]]:
        """Concrete (name, topic) pairs this node publishes or subscribes, templates resolved with `device`."""
        device = self.merged_parameters().get("device_name", "")
        out = []
        for t in (*self.kind.publishes, *self.kind.subscribes):
            out.append((t.resolve(name=device), t))
        return out


SIM_WORLD = NodeKind(
    "sim_world_node",
    "franky-sim server on the MuJoCo task world; renders sim cameras and tactile from the same state",
    publishes=(
        CLOCK,
        CAMERA_IMAGE,
        CAMERA_INFO,
        TACTILE_MARKER_FLOW,
        TACTILE_EMBEDDING,
        SIM_EPISODE,
        SIM_PRIVILEGED_STATE,
        DIAGNOSTICS,
    ),
    serves=(SIM_RESET_EPISODE, SIM_RELEASE),
    parameters={
        "host": "127.0.0.1",
        "seed": 0,
        "scenario": "nominal",
        "cameras": ["external", "wrist"],
        "camera_rate_hz": 15.0,
        "camera_width": 320,
        "camera_height": 240,
        "tactile_sensors": ["tool"],
        "tactile_rate_hz": 30.0,
        "mujoco_gl": "osmesa",
        "render_meshes": "collision",
        "realtime": 1.0,
        "privileged_rate_hz": 30.0,
        "clock_period_s": 0.005,
        "flight_log_dir": "",
    },
)
FRANKA = NodeKind(
    "franka_node",
    "franky arm driver behind the safety envelope; state streaming, targets, gripper, safe stop",
    publishes=(
        FRANKA_JOINT_STATES,
        FRANKA_EE_POSE,
        FRANKA_WRENCH,
        FRANKA_GRIPPER_STATE,
        FRANKA_STATUS,
        DIAGNOSTICS,
    ),
    subscribes=(FRANKA_TARGET_POSE, FRANKA_TARGET_JOINTS, FRANKA_GRIPPER_COMMAND),
    serves=(FRANKA_SAFE_STOP, FRANKA_RESET),
    parameters={
        "robot_ip": "172.16.0.2",
        "state_rate_hz": 100.0,
        "connect_timeout_s": 10.0,
        "connect_retry_s": 1.0,
        "min_replan_period_s": 0.0,
        "control_thread_priority": 80,
        "dynamics_factor": 0.15,
        "workspace_min": [0.25, -0.35, 0.02],
        "workspace_max": [0.75, 0.35, 0.60],
        "workspace_mode": "reject",
        "max_step_m": 0.05,
        "max_rotation_step_rad": 0.5,
        "max_joint_step_rad": 0.5,
        "max_speed_mps": 0.5,
        "max_accel_mps2": 2.0,
        "max_target_age_s": 0.2,
        "max_force_n": 40.0,
        "contact_force_limit_n": 20.0,  # above it, targets may not press deeper (0 = off)
        "contact_backoff_m_per_n": 0.0005,
        "collision_force_n": 60.0,
        "collision_torque_nm": 40.0,
        "watchdog_timeout_s": 0.25,
        "use_gripper": True,
        "frame_id": "base",
    },
)
CAMERA = NodeKind(
    "camera_node",
    "RealSense camera through pyrealsense2: color (+ aligned depth), hardware stamps, reconnect",
    publishes=(CAMERA_IMAGE, CAMERA_INFO, CAMERA_DEPTH, DIAGNOSTICS),
    parameters={
        "device_name": "external",
        "serial": "",
        "width": 640,
        "height": 480,
        "fps": 30,
        "depth": False,
        "source": "",  # "" = USB camera by serial; a .db3/.bag path = play that recording
        "frame_id": "",  # "" = "<device_name>_color_optical_frame"
        "stale_after_ms": 500.0,
        "reconnect_after_s": 2.0,
        "late_after_ms": 100.0,
    },
)
TACTILE = NodeKind(
    "tactile_node",
    "Marker-based optical tactile sensor (UVC camera or video file): marker flow and PCA embedding",
    publishes=(TACTILE_IMAGE, TACTILE_MARKER_FLOW, TACTILE_EMBEDDING, DIAGNOSTICS),
    subscribes=(FRANKA_WRENCH,),  # only with touch="wrench"
    serves=(TACTILE_CAPTURE_REFERENCE,),
    parameters={
        "device_name": "left",
        "touch": "markers",  # "markers" (optical sensor) or "wrench" (6-D F/T from /franka/wrench)
        "source": "0",  # UVC device index, /dev/video path, or a video file
        "model": "gelsight_mini",  # marker grid: a known model name or a .yaml spec
        "pca_file": "",  # fitted PCA (.npz); "" = no embedding, marker flow only
        "fps": 30.0,
        "width": 320,  # frames are processed at this size (0 = as captured)
        "height": 240,
        "reference_dir": "",  # "" = reference from the first frame; else load/save it here
        "contrast": 20.0,
        "latency_ms": 0.0,
        "stale_after_ms": 500.0,
        "wrench_scale": [10.0, 10.0, 10.0, 1.0, 1.0, 1.0],
        "frame_id": "",
    },
)
POLICY = NodeKind(
    "policy_node",
    "Reactive Diffusion Policy: slow latent planner + fast tactile-reactive head, from ONNX",
    publishes=(
        FRANKA_TARGET_POSE,
        FRANKA_GRIPPER_COMMAND,
        POLICY_EMBEDDING,
        POLICY_SAMPLED_CHUNKS,
        POLICY_STATUS,
        DIAGNOSTICS,
    ),
    subscribes=(CAMERA_IMAGE, FRANKA_EE_POSE, FRANKA_GRIPPER_STATE, TACTILE_EMBEDDING),
    serves=(POLICY_START, POLICY_STOP),
    parameters={
        "policy_dir": "",
        "autostart": True,  # False: wait for /policy/start (evaluation, supervised runs)
        "control_rate_hz": 24.0,
        "planner_rate_hz": 6.0,  # in the node's time: sim time in sim, so steps per episode do not vary with load
        "streaming": False,
        "num_samples": 16,
        "planner_process": True,  # the planner's graphs in a child process: no GIL contention with the fast head
        "planner_nice": 0,  # niceness added to that process (>0: the control process wins a busy CPU)
        "prewarm_ms": 1.0,  # warm the fast head's code and data this long before each tick (0: off)
        "max_skew_s": 0.1,
        "max_age_s": 0.25,
        "max_action_jump_m": 0.03,
        "fast_path_priority": 40,  # SCHED_FIFO for the node's threads (touch in -> target out); 0: time-shared
        "plan_switch_blend_s": 0.3,  # a new plan glides from the last target over this long (0: off)
        "coherent_samples": True,  # execute the sampled chunk closest to the one executed before (else sample 0)
        "tick_on_touch": True,  # a touch message runs the next fast tick at once (lowest touch-to-target delay)
        "features_when_disengaged": False,  # monitor features also while disengaged (shadow runs)
        "tactile_sensor": "left",
        "frame_id": "base",
        "gripper_deadband_m": 0.005,
    },
)
FIPER = NodeKind(
    "fiper_node",
    "FIPER failure monitor: RND + action-chunk entropy, conformal thresholds, AND rule, safe stop",
    publishes=(FIPER_ALARM, FIPER_SCORES, DIAGNOSTICS),
    subscribes=(POLICY_EMBEDDING, POLICY_SAMPLED_CHUNKS),
    serves=(FIPER_RESET,),
    calls=(FRANKA_SAFE_STOP,),
    parameters={
        "monitor_dir": "",  # from `rstack fiper calibrate` (rnd.onnx + fiper_monitor.json)
        "policy_dir": "",  # when set, a monitor calibrated for another policy is refused at start
        "window": 0,  # 0 = the calibrated window; any other value must equal it
        "rule": "and",  # and | or | rnd | ace (the last three are evaluation baselines)
        "time_varying": False,  # per-step thresholds instead of the calibrated ones (constant or band)
        "stop_on_fault": True,  # bad input (NaN, wrong dims, another B/H) latches an alarm and stops
        "stop_retry_s": 0.1,  # retry /franka/safe_stop until it succeeds
        "stale_after_s": 1.0,  # policy features older than this are reported stale on /diagnostics
    },
)
TELEOP = NodeKind(
    "teleop_node",
    "Teleoperation: SpaceMouse, keyboard (terminal/SSH), gamepad or the sim scripted expert",
    publishes=(FRANKA_TARGET_POSE, FRANKA_GRIPPER_COMMAND, TELEOP_STATUS),
    subscribes=(FRANKA_EE_POSE,),
    calls=(RECORDER_START, RECORDER_STOP_SUCCESS, RECORDER_STOP_FAILURE, RECORDER_DISCARD),
    parameters={
        "device": "keyboard",
        "rate_hz": 50.0,
        "linear_speed_mps": 0.05,
        "angular_speed_rps": 0.3,
        "key_hold_s": 0.12,
        "max_lead_m": 0.02,
        "gripper_open_width_m": 0.08,
        "gripper_speed_mps": 0.05,
        "gripper_force_n": 20.0,
        "frame_id": "base",
    },
    needs_terminal=True,
)
RECORDER = NodeKind(
    "recorder_node",
    "Crash-safe episode recorder: one MCAP file (ROS 2 encoding) per episode",
    publishes=(RECORDER_STATUS, DIAGNOSTICS),
    subscribes=(
        CAMERA_IMAGE,
        CAMERA_INFO,
        TACTILE_MARKER_FLOW,
        TACTILE_EMBEDDING,
        FRANKA_JOINT_STATES,
        FRANKA_EE_POSE,
        FRANKA_WRENCH,
        FRANKA_GRIPPER_STATE,
        FRANKA_TARGET_POSE,
        FRANKA_GRIPPER_COMMAND,
        SIM_EPISODE,
    ),
    serves=(RECORDER_START, RECORDER_STOP_SUCCESS, RECORDER_STOP_FAILURE, RECORDER_DISCARD),
    parameters={
        "profile": "sim",
        "output_dir": "runs/episodes",
        "task": "wipe",
        "operator": "",
        "min_free_gb": 2.0,
        "stop_free_gb": 1.0,
        "disk_check_period_s": 1.0,
        "compression": "zstd",
        "chunk_kb": 64,
        "queue_depth": 200,
        "max_queue_mb": 512,
    },
)

NODE_KINDS: tuple[NodeKind, ...] = (SIM_WORLD, FRANKA, CAMERA, TACTILE, POLICY, FIPER, TELEOP, RECORDER)


# --------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Profile:
    """A set of nodes started together, plus the device names behind per-device topics."""

    name: str
    doc: str
    nodes: tuple[NodeInstance, ...]
    cameras: tuple[str, ...] = ("external", "wrist")
    tactile_sensors: tuple[str, ...] = ()
    sim_time: bool = False  # every node gets use_sim_time (the sim world publishes /clock)

    def node(self, name: str) -> NodeInstance:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"profile {self.name!r} has no node {name!r} (nodes: {', '.join(self.node_names())})")

    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def topic_names(self) -> list[str]:
        """Every concrete topic of this profile, per-device templates expanded with the profile's devices."""
        names: set[str] = set()
        for inst in self.nodes:
            for t in (*inst.kind.publishes, *inst.kind.subscribes):
                names.update(expand(t, self))
        return sorted(names)


def expand(item: Topic | Service, profile: Profile) -> list[str]:
    """Concrete names of a topic or service in a profile."""
    if "{name}" not in item.name:
        return [item.name]
    devices = profile.cameras if item.name.startswith("/camera/") else profile.tactile_sensors
    return [item.resolve(name=d) for d in devices]


def _robot_nodes(extra: tuple[NodeInstance, ...]) -> tuple[NodeInstance, ...]:
    return (
        NodeInstance("franka", FRANKA),
        NodeInstance("camera_external", CAMERA, {"device_name": "external"}),
        NodeInstance("camera_wrist", CAMERA, {"device_name": "wrist"}),
        NodeInstance("tactile_left", TACTILE, {"device_name": "left"}),
        *extra,
    )


PROFILES: dict[str, Profile] = {
    "sim": Profile(
        "sim",
        "Sim-in-the-loop: franky-sim + MuJoCo world behind the same topics as the robot",
        nodes=(
            NodeInstance("sim_world", SIM_WORLD),
            # franky-sim needs slower re-planning than the real arm (see DriverConfig.min_replan_period_s).
            NodeInstance("franka", FRANKA, {"robot_ip": "127.0.0.1", "min_replan_period_s": 0.15}),
        ),
        tactile_sensors=("tool",),
        sim_time=True,
    ),
    "robot": Profile(
        "robot",
        "Real Franka + RealSense + tactile, running the policy and the failure monitor",
        nodes=_robot_nodes((NodeInstance("policy", POLICY), NodeInstance("fiper", FIPER))),
        tactile_sensors=("left",),
    ),
    "teleop": Profile(
        "teleop",
        "Teleoperated data collection on the real robot",
        nodes=_robot_nodes((NodeInstance("teleop", TELEOP), NodeInstance("recorder", RECORDER))),
        tactile_sensors=("left",),
    ),
}


def profile(name: str) -> Profile:
    """The profile called `name`, or a ValueError listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(sorted(PROFILES))})") from None


def all_topic_names() -> set[str]:
    """Every concrete topic name any profile can have, plus the templates themselves."""
    names = {t.name for t in TOPICS}
    for p in PROFILES.values():
        for t in TOPICS:
            names.update(expand(t, p))
    return names


def all_service_names() -> set[str]:
    names = {s.name for s in SERVICES}
    for p in PROFILES.values():
        for s in SERVICES:
            names.update(expand(s, p))
    return names
