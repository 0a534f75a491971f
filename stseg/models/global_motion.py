"""``global``: one camera-motion warp for the whole frame.

ORB features of each frame are matched against a *keyframe* (the first frame, at
first) and a homography (or a partial affine transform) is fitted with RANSAC;
composed with the keyframe's own transform it maps the first frame onto the
current one, and the *first* annotation is warped by it (nearest-neighbour), so
neither estimation drift nor resampling error accumulates from frame to frame.
When the match to the keyframe weakens (fewer than half its first inliers) the
current frame becomes the keyframe; when it fails, the previous frame's
transform is chained instead.

Exact when the scene is rigid and only the camera moves (pans, zooms, shakes);
blind to objects that move on their own: there it is no better than ``copy``.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Limit, StreamingPropagator


class GlobalMotionWarp(StreamingPropagator):
    defaults = {"scale": 1.0, "features": 1500, "transform": "homography", "min_inliers": 12}
    limits = {"scale": Limit(0.1, 1.0), "features": Limit(10, 100000), "transform": Limit(choices=("homography", "affine")),
              "min_inliers": Limit(4, 100000)}

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        self._scale = float(self.options["scale"])
        self._orb = cv2.ORB_create(  # type: ignore[attr-defined]
           nfeatures=int(self.options["features"]), fastThreshold=10)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
        self._labels0 = labels.copy()
        self._key = self._prev = self._features(frame)
        self._key_transform = self._prev_transform = np.eye(3)
        self._key_inliers: int | None = None

    def _features(self, frame: np.ndarray):
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self._scale != 1.0:
            grey = cv2.resize(grey, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
        return self._orb.detectAndCompute(grey, None)

    def _estimate(self, prev, curr) -> tuple[np.ndarray | None, int]:
        """Transform taking ``prev`` coordinates to ``curr`` coordinates (full resolution), and its inliers."""
        (kp0, des0), (kp1, des1) = prev, curr
        if des0 is None or des1 is None or len(kp0) < 4 or len(kp1) < 4:
            return None, 0
        matches = self._matcher.match(des0, des1)
        if len(matches) < int(self.options["min_inliers"]):
            return None, 0
        src = np.array([kp0[m.queryIdx].pt for m in matches], dtype=np.float32) / np.float32(self._scale)
        dst = np.array([kp1[m.trainIdx].pt for m in matches], dtype=np.float32) / np.float32(self._scale)
        if self.options["transform"] == "homography":
            matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0)
        else:
            affine, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
            matrix = None if affine is None else np.vstack([affine, [0, 0, 1]])
        count = 0 if inliers is None else int(inliers.sum())
        if matrix is None or count < int(self.options["min_inliers"]):
            return None, count
        return matrix, count

    def step(self, frame: np.ndarray) -> np.ndarray:
        curr = self._features(frame)
        matrix, inliers = self._estimate(self._key, curr)
        if matrix is not None:
            transform = matrix @ self._key_transform
            if self._key_inliers is None:
                self._key_inliers = inliers
            renew = inliers < self._key_inliers // 2
        else:
            chained, _ = self._estimate(self._prev, curr)
            transform = (chained if chained is not None else np.eye(3)) @ self._prev_transform
            renew = True
        if renew:
            self._key, self._key_transform, self._key_inliers = curr, transform, None
        self._prev, self._prev_transform = curr, transform
        height, width = self._labels0.shape
        return cv2.warpPerspective(
            self._labels0, transform, (width, height), flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )
