"""``flow``: dense optical-flow propagation of the label map.

For each new frame, the backward flow (new frame -> previous frame) is computed
with OpenCV's DIS optical flow on the greyscale pair (optionally downscaled and
the flow scaled back to full resolution), and the previous label map is pulled through it with ``cv2.remap``.
Each object's one-hot map is warped with bilinear interpolation and the label is
the arg-max, so boundaries move smoothly instead of eroding pixel by pixel.

Strong on deformation and smooth motion of any kind (objects or camera); weak on
fast motion (beyond DIS's search range), on occlusion (an occluded object's pixels
are taken over and never come back) and on objects that leave the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Limit, StreamingPropagator

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowPropagation(StreamingPropagator):
    defaults = {"scale": 1.0, "preset": "medium", "soft": True}
    limits = {"scale": Limit(0.1, 1.0), "preset": Limit(choices=tuple(sorted(PRESETS)))}

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        scale = float(self.options["scale"])  # (its limits: checked by Propagator)
        self._dis = cv2.DISOpticalFlow_create(  # type: ignore[attr-defined]
            PRESETS[self.options["preset"]])
        self._scale = scale
        height, width = labels.shape
        self._grid_x, self._grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        self._prev_grey = self._grey(frame)
        self._labels = labels.copy()

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self._scale != 1.0:
            grey = cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        return grey

    def step(self, frame: np.ndarray) -> np.ndarray:
        grey = self._grey(frame)
        flow = self._dis.calc(grey, self._prev_grey, None)  # for each new pixel: where it was
        self._prev_grey = grey
        height, width = self._labels.shape
        if self._scale != 1.0:
            flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) / self._scale
        map_x = self._grid_x + flow[..., 0]
        map_y = self._grid_y + flow[..., 1]
        if self.options["soft"] and self.objects:
            best = np.full((height, width), 0.5, dtype=np.float32)  # an object needs > half a pixel's weight
            out: np.ndarray = np.zeros((height, width), dtype=np.uint8)
            for obj in self.objects:
                onehot = (self._labels == obj).astype(np.float32)
                warped = cv2.remap(onehot, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                take = warped > best
                out[take] = obj
                best[take] = warped[take]
        else:
            out = cv2.remap(self._labels, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        self._labels = out
        return out
