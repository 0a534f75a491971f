"""``appearance``: a per-object colour model searched near the previous mask.

From the first frame each object gets a hue-saturation histogram of its pixels
against the background pixels around it; the posterior ``p(object | colour)`` is
back-projected (``cv2.calcBackProject``) into a search window around the position
predicted from the object's velocity, thresholded, cleaned with a morphological
opening and closing, and the connected component nearest the prediction is kept.
An object that finds no component is marked lost and searched over the whole
frame on the next frames, so it is found again when it re-enters.

Strong on fast motion and on objects that leave and come back, as long as their
colours differ from the background; weak on similar-looking objects (it swaps
them) and on colours shared with the background; its boundaries are rough.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .base import Limit, StreamingPropagator

H_RANGE = [0, 180, 0, 256]


@dataclass
class _Track:
    hist: np.ndarray
    center: np.ndarray
    velocity: np.ndarray
    size: np.ndarray  # (w, h) of the last box
    area: float
    lost: bool = False


class ColourTracker(StreamingPropagator):
    defaults = {"bins": 24, "margin": 1.0, "threshold": 0.55, "min_area": 0.25, "context": 2.0}
    limits = {"bins": Limit(2, 256), "margin": Limit(0.0, 10.0), "threshold": Limit(0.0, 1.0), "min_area": Limit(0.0, 1.0),
              "context": Limit(0.0, 10.0)}

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        height, width = labels.shape
        bins = int(self.options["bins"])
        self._tracks: dict[int, _Track] = {}
        for obj in self.objects:
            mask = (labels == obj).astype(np.uint8)
            x, y, w, h = cv2.boundingRect(mask)
            ctx = float(self.options["context"])
            cx0, cy0 = max(0, int(x - ctx * w)), max(0, int(y - ctx * h))
            cx1, cy1 = min(width, int(x + w + ctx * w)), min(height, int(y + h + ctx * h))
            around = np.zeros_like(mask)
            around[cy0:cy1, cx0:cx1] = 1
            around[labels != 0] = 0
            fg = cv2.calcHist([hsv], [0, 1], mask, [bins, bins], H_RANGE)
            bg = cv2.calcHist([hsv], [0, 1], around, [bins, bins], H_RANGE)
            p_fg = fg / max(fg.sum(), 1.0)
            p_bg = bg / max(bg.sum(), 1.0)
            posterior = (p_fg / (p_fg + p_bg + 1e-6)) * 255.0
            moments = cv2.moments(mask, binaryImage=True)
            center = np.array([moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]])
            self._tracks[obj] = _Track(
                hist=posterior.astype(np.float32), center=center, velocity=np.zeros(2),
                size=np.array([w, h], dtype=float), area=float(mask.sum()),
            )

    def step(self, frame: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        height, width = hsv.shape[:2]
        out = np.zeros((height, width), dtype=np.uint8)
        best = np.zeros((height, width), dtype=np.uint8)
        threshold = int(round(float(self.options["threshold"]) * 255))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        for obj, track in self._tracks.items():
            predicted = track.center + track.velocity
            if track.lost:
                x0, y0, x1, y1 = 0, 0, width, height
            else:
                half = track.size * (0.5 + float(self.options["margin"])) + 16 + np.abs(track.velocity)
                x0, y0 = np.maximum(0, (predicted - half).astype(int))
                x1, y1 = np.minimum([width, height], (predicted + half).astype(int) + 1)
            if x1 - x0 < 2 or y1 - y0 < 2:
                track.lost = True
                continue
            window = np.ascontiguousarray(hsv[y0:y1, x0:x1])
            prob = cv2.calcBackProject([window], [0, 1], track.hist, H_RANGE, 1)
            prob = cv2.blur(prob, (5, 5))
            binary: np.ndarray = (prob > threshold).astype(np.uint8)
            binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
            binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
            count, components, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
            min_area = float(self.options["min_area"]) * track.area
            candidates = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
            if not candidates:
                track.lost = True
                track.velocity[:] = 0
                self.scores[obj] = 0.0
                continue
            offset = np.array([x0, y0], dtype=float)
            if track.lost:
                chosen = max(candidates, key=lambda i: stats[i, cv2.CC_STAT_AREA])
            else:
                chosen = min(candidates, key=lambda i: float(np.linalg.norm(centroids[i] + offset - predicted)))
            component = components == chosen
            local_best = best[y0:y1, x0:x1]
            take = component & (prob >= local_best)
            out[y0:y1, x0:x1][take] = obj
            local_best[take] = prob[take]
            center = centroids[chosen] + offset
            if not track.lost:
                track.velocity = 0.5 * track.velocity + 0.5 * (center - track.center)
            track.center = center
            track.size = np.array([stats[chosen, cv2.CC_STAT_WIDTH], stats[chosen, cv2.CC_STAT_HEIGHT]], dtype=float)
            track.area = 0.8 * track.area + 0.2 * float(stats[chosen, cv2.CC_STAT_AREA])
            track.lost = False
            self.scores[obj] = float(prob[component].mean()) / 255.0
        return out
