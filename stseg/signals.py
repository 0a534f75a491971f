"""Evidence about a model's masks that does not come from the models' vote.

**Edge alignment.**  A correct mask's outline runs along the image's edges (the
object's silhouette is where the colours change); a mask that drifted, froze or
was warped from an earlier frame has an outline that crosses flat regions and
textures at random.  Per object and frame: the mean image-gradient magnitude on
the mask's boundary pixels (:func:`stseg.metrics.boundary_map`), divided by the
frame's 90th-percentile gradient so that frames of different contrast count
alike; per object over the video: the mean over the frames where the mask is not
empty, times the share of frames where it is not empty (a model that loses the
object earns nothing on those frames).  The gradient is the Sobel magnitude of
the greyscale frame at full resolution.  It needs no reference and no other
model, so models that fail the same way cannot raise each other's score.

The selection (:mod:`stseg.selection`) multiplies each candidate's pseudo-label
J&F by its edge alignment relative to the best candidate's, raised to
``pgmr.edge_power`` (0 = STSeg's rule, agreement alone).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

from .dataset import read_frame
from .masks import read_label_map
from .metrics import BoundaryCache

__all__ = ["EdgeAlignment", "frame_gradient", "gradient_magnitude", "ninetieth_percentile", "edge_alignment_frame", "edge_alignment"]


def gradient_magnitude(frame: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of a BGR frame's greyscale, divided by its 90th percentile."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    dx, dy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    # not cv2.magnitude: its Intel IPP path gives other last bits with MKL_NUM_THREADS=1 (which Snakemake sets
    # for a one-thread job) than without, and may on another CPU; IEEE products and square roots do not.  In
    # place: the same operations as np.sqrt(dx * dx + dy * dy) without three frame-sized temporaries
    magnitude = np.multiply(dx, dx, out=dx)
    magnitude += np.multiply(dy, dy, out=dy)
    np.sqrt(magnitude, out=magnitude)
    scale = float(ninetieth_percentile(magnitude))
    if scale > 0:
        magnitude /= scale
    return magnitude


def frame_gradient(frame_file: str | os.PathLike[str]) -> np.ndarray:
    """:func:`gradient_magnitude` of a JPEG frame, with a clear error for one that cannot be decoded."""
    return gradient_magnitude(read_frame(frame_file))


def ninetieth_percentile(values: np.ndarray) -> np.floating:
    """``np.percentile(values, 90)``, bit for bit, for a ``float32`` array of non-negative values below 65535 (a
    gradient magnitude): the two order statistics numpy interpolates are found by bucketing, not by partitioning
    every value.  The values are counted by their integer part (a monotonic map); only the values of the bucket
    (or two) that holds those ranks are partitioned; numpy's own helpers interpolate.  About 3 ms at 1080p
    instead of numpy's 10.  Anything else (or a numpy without those helpers) is numpy's ``percentile`` itself."""
    try:
        from numpy.lib._function_base_impl import (  # type: ignore[attr-defined]
            _get_gamma,
            _get_indexes,
            _lerp,
            _QuantileMethods,
        )
    except ImportError:
        return np.percentile(values, 90)
    n = values.size
    if not 4096 <= n < 2**24 or values.dtype != np.float32 or not values.flags.c_contiguous:  # small: numpy is as fast
        return np.percentile(values, 90)
    try:
        method = _QuantileMethods["linear"]
        virtual = np.asanyarray(method["get_virtual_index"](n, np.true_divide(90, 100, out=...)))
        previous, following = _get_indexes(values, virtual, n)
        gamma = float(_get_gamma(virtual, previous, method))  # np.percentile's weak q: a Python float
    except (KeyError, TypeError, ValueError):  # numpy's helpers changed: its percentile itself
        return np.percentile(values, 90)
    low_value, high_value = values.min(), values.max()
    if not 0 <= low_value <= high_value < 65535:  # NaN fails too
        return np.percentile(values, 90)
    flat = values.reshape(1, -1)  # OpenCV's histogram takes 2-D arrays
    buckets = flat.astype(np.uint16)  # the integer part: monotonic, so a bucket's values rank
    size = int(high_value) + 1  # after the earlier buckets'; float32 counts are exact below 2**24 values
    counts = cv2.calcHist([buckets], [0], None, [size], [0, size]).ravel().astype(np.int64)
    below = np.cumsum(counts) - counts  # how many values lie in earlier buckets
    found, inside = [], {}
    for rank in (int(i) % n for i in (previous, following)):  # 0-based; -1 is the largest
        bucket = int(np.searchsorted(below, rank, side="right")) - 1
        if bucket not in inside:  # the two ranks are mostly in one bucket
            inside[bucket] = flat[buckets == bucket]
        place = rank - int(below[bucket])
        found.append(np.partition(inside[bucket], place)[place])
    return _lerp(found[0], found[1], gamma)


def edge_alignment_frame(gradient: np.ndarray, labels: np.ndarray, objects: Sequence[int],
                         boundaries: BoundaryCache | None = None) -> np.ndarray:
    """Per object: the mean normalised gradient on its boundary; NaN where the mask (or its boundary) is empty.
    ``boundaries``: the frame's cache of boundaries, shared with its scoring (the same boundaries)."""
    boundaries = boundaries or BoundaryCache()
    out = np.full(len(objects), np.nan)
    for k, obj in enumerate(objects):
        # on the mask's box grown by one pixel: the boundary is the full frame's
        found = boundaries.boundary(labels, obj)
        if found.count:
            assert found.crop is not None and found.boundary is not None
            out[k] = float(gradient[found.crop][found.boundary].mean())
    return out


class EdgeAlignment:
    """The edge alignment of several models' masks of a video, accumulated frame by frame (:func:`edge_alignment`):
    a caller that decodes the masks anyway (the scoring) hands them over instead of their being read again."""

    def __init__(self, models: Sequence[str], objects: Sequence[int], frames: int) -> None:
        self.objects = list(objects)
        self.frames = frames  # the frames counted (all but the first)
        self.sums = {m: np.zeros(len(self.objects)) for m in models}
        self.seen = {m: np.zeros(len(self.objects)) for m in models}

    def add_from(self, frame_file: str | os.PathLike[str], mask_dirs: Mapping[str, str | os.PathLike[str]]) -> None:
        """One frame, reading every model's label map of it from its folder (``<frame>.png``)."""
        self.add_gradient(*self.read(frame_file, mask_dirs))

    @staticmethod
    def read(frame_file: str | os.PathLike[str],
             mask_dirs: Mapping[str, str | os.PathLike[str]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """What :meth:`add_from` reads of a frame: its :func:`frame_gradient` and every model's label map."""
        stem = Path(frame_file).stem
        maps = {m: read_label_map(Path(d) / f"{stem}.png", allow_greyscale=True) for m, d in mask_dirs.items()}
        return frame_gradient(frame_file), maps

    def add_gradient(self, gradient: np.ndarray, label_maps: Mapping[str, np.ndarray],
                     boundaries: BoundaryCache | None = None) -> None:
        """One frame, from its :func:`frame_gradient` (made by the caller, e.g. in a reader thread)."""
        for model in self.sums:
            values = edge_alignment_frame(gradient, label_maps[model], self.objects, boundaries)
            present = np.isfinite(values)
            self.sums[model][present] += values[present]
            self.seen[model] += present

    def result(self) -> dict[str, np.ndarray]:
        out = {}
        for model, sums in self.sums.items():
            seen = self.seen[model]
            mean = np.divide(sums, seen, out=np.zeros(len(self.objects)), where=seen > 0)
            out[model] = mean * (seen / max(1, self.frames))
        return out


def edge_alignment(
    frame_files: Sequence[str | os.PathLike[str]],
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    objects: Sequence[int],
) -> dict[str, np.ndarray]:
    """Per model, per object: the video's edge alignment (module docstring); frame 0 (the annotation) left out."""
    frames = [Path(f) for f in frame_files][1:]
    edges = EdgeAlignment(list(mask_dirs), objects, len(frames))
    for path in frames:
        edges.add_from(path, mask_dirs)
    return edges.result()
