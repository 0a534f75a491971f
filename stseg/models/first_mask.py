"""``copy``: the first-frame annotation repeated on every frame.

The zero-motion baseline.  It is right exactly when nothing moves, so it wins on
static shots with flicker or noise that mislead motion estimation, and it tells
how much of a video's J&F any real model earns.
"""

from __future__ import annotations

import numpy as np

from .base import StreamingPropagator


class FirstMaskCopy(StreamingPropagator):
    defaults: dict = {}

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        self._labels = labels.copy()

    def step(self, frame: np.ndarray) -> np.ndarray:
        return self._labels


class FirstMaskForeground(FirstMaskCopy):
    """``copy-foreground``: the annotation's foreground (1) repeated on every frame.

    A weight-free *foreground-only* model: it takes the path TMO takes (its
    foreground is split into objects by :mod:`stseg.foreground` and votes "some
    object" in the pseudo-labels), so that path runs and is tested without TMO.
    """

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        self._labels = (labels > 0).astype(np.uint8)
