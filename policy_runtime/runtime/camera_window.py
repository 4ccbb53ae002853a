"""The cameras' side of the observation, kept where the planner runs (ROS-free).

With the planner in its own process, the camera images need not pass through the process that publishes
targets at all: an image feed (in the node: a ROS subscription made in the planner process) pushes each
frame, already resized to the policy's input size, into a `CameraWindow` there. The control process
assembles the rest of the observation (TCP pose, gripper, touch) and asks for the frames at the same
query times; the window applies the same rules as `ObsSync` (missing, stale, and the skew between the
cameras' stamps and the other streams' stamps), so a refusal reads the same wherever it was made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hardware.timing import StreamStats
from policy_runtime.obs_sync import ObsSync
from policy_runtime.training.dataset import resize_image

# A feed starts delivering frames to `push(camera, capture_stamp_s, rgb_uint8_hwc)` and returns a function
# that stops it. It must be picklable (a module-level function or a functools.partial of one): it is
# called in the planner process.
ImageFeed = Callable[[Callable[[str, float, np.ndarray], None]], Callable[[], None]]


class CameraWindow:
    """Recent frames of each camera by capture stamp; `at(times, spans)` answers for one observation window."""

    def __init__(
        self, cameras: Sequence[str], image_size: tuple[int, int], max_skew_s: float, max_age_s: float
    ) -> None:
        self.cameras = list(cameras)
        self.image_size = image_size
        self.max_skew_s = max_skew_s
        self.sync = ObsSync([f"img_{c}" for c in self.cameras], max_skew_s=max_skew_s, max_age_s=max_age_s)
        self.rates = {c: StreamStats(f"img_{c}", stale_after_s=max_age_s) for c in self.cameras}

    def push(self, camera: str, stamp_s: float, rgb: np.ndarray) -> None:
        if camera not in self.rates:
            raise KeyError(f"unknown camera {camera!r} (cameras: {', '.join(self.cameras)})")
        self.sync.push(f"img_{camera}", stamp_s, resize_image(rgb, self.image_size))
        self.rates[camera].tick()

    def at(
        self, times: Sequence[float], spans: Sequence[tuple[float, float]]
    ) -> tuple[dict[str, np.ndarray], float] | str:
        """Frames at each query time, stacked per camera, and the newest frame stamp; or the reason to hold.

        `spans[k]` is (oldest, newest) stamp of the other streams at `times[k]`: the cameras must fall within
        `max_skew_s` of them, as one `ObsSync` over all streams would require.
        """
        frames: list[dict] = []
        newest = float("-inf")
        for t, (lo, hi) in zip(times, spans, strict=True):
            res = self.sync.query(t)
            if not res.ok:
                return f"observation {res.reason}: {res.detail}"
            stamps = res.stamps.values()
            first = min(min(stamps), lo)
            last = max(max(stamps), hi)
            if last - first > self.max_skew_s:
                return (
                    f"observation skew: camera and arm/touch stamps span {(last - first) * 1e3:.1f} ms "
                    f"> max {self.max_skew_s * 1e3:.1f} ms"
                )
            frames.append(res.values)
            newest = max(newest, max(stamps))
        images = {c: np.stack([f[f"img_{c}"] for f in frames]) for c in self.cameras}
        return images, newest

    def stats(self) -> dict[str, float]:
        """Per camera: receive rate (Hz) and seconds since the newest frame arrived."""
        out: dict[str, float] = {}
        for c, s in self.rates.items():
            out[f"camera_{c}_hz"] = round(s.rate_hz(), 2)
            out[f"camera_{c}_age_s"] = round(min(s.age_s(), 1e6), 3)
        return out
