"""Marker tracking time per frame at 320x240 and 640x480 on one core (median / p99 ms, fps).

Also times OpenCV's SimpleBlobDetector on the same frames, side by side, for the ratio.
Run: .venv/bin/python bench/bench_tactile.py
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from tqdm import tqdm

from hardware.tactile.geometry import SENSOR_MODELS
from hardware.tactile.markers import detect_markers_blob_detector, make_blob_detector
from hardware.tactile.synthetic import SyntheticTactile, combine, press, twist
from hardware.tactile.tracker import MarkerTracker

N = 400


def main() -> None:
    cv2.setNumThreads(1)
    spec = SENSOR_MODELS["gelsight_mini"]
    print(f"one core (cv2.setNumThreads(1)), {N} frames per size, model {spec.name} {spec.rows}x{spec.cols}")
    for w, h in ((320, 240), (640, 480)):
        syn = SyntheticTactile(spec, w, h)
        tracker = MarkerTracker(spec, w)
        tracker.capture_reference(syn.frame()[0])
        c = (w / 2, h / 2)
        frames = [syn.frame(combine(press(c, k * w / 320, 40 * w / 320), twist(0.005 * k, c)))[0] for k in range(8)]
        blob = make_blob_detector(tracker.params)
        track_t, blob_t = [], []
        for i in tqdm(range(N), desc=f"{w}x{h}", leave=False):
            img = frames[i % len(frames)]
            t0 = time.perf_counter()
            tracker.track(img)
            t1 = time.perf_counter()
            detect_markers_blob_detector(img, blob)
            t2 = time.perf_counter()
            track_t.append(t1 - t0)
            blob_t.append(t2 - t1)
        tt, bt = np.asarray(track_t) * 1e3, np.asarray(blob_t) * 1e3
        print(
            f"{w}x{h}: track+flow median {np.median(tt):.2f} ms, p99 {np.percentile(tt, 99):.2f} ms, "
            f"{1e3 / np.median(tt):.0f} fps (p99 {1e3 / np.percentile(tt, 99):.0f} fps) | "
            f"SimpleBlobDetector (detection only) median {np.median(bt):.2f} ms, p99 {np.percentile(bt, 99):.2f} ms "
            f"| ratio blob/track {np.median(bt) / np.median(tt):.1f}x"
        )


if __name__ == "__main__":
    main()
