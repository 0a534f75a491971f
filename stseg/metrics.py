"""J&F exactly as the official DAVIS 2017 semi-supervised evaluation computes it.

Definitions (davisvideochallenge/davis2017-evaluation, ``metrics.py`` and
``evaluation.py``), re-implemented here and checked against its numbers:

* **J** (region similarity): ``|P ∩ G| / |P ∪ G|`` per object and frame; 1 when both are empty.
* **F** (contour accuracy): boundary maps mark a pixel that differs from its right,
  lower or lower-right neighbour (with the last row/column special cases of
  ``_seg2bmap``); the tolerance radius is ``ceil(0.008 * hypot(H, W))``; each
  boundary is dilated with a scikit-image ``disk`` of that radius
  (``x² + y² <= r²``); precision = predicted boundary pixels inside the dilated
  ground-truth boundary / predicted boundary pixels, recall likewise; no predicted
  boundary -> P=1, R=0; no ground-truth boundary -> P=0, R=1; neither -> P=R=1;
  ``F = 2PR / (P + R)`` and 0 when ``P + R == 0``.
* **Sequences**: the first and last frames are not scored; the objects are the
  ids of the first-frame ground truth; ground-truth pixels equal to 255 count as
  background (as the official reader does); a predicted id outside the objects is
  an error; per object the statistics are the mean over frames, the recall
  (fraction of frames above 0.5) and the decay (first quarter minus last quarter).
  The dataset score is the mean over all objects pooled across videos.

Speed: each frame's PNGs are decoded once, by two reader threads a few frames
ahead of the scoring (decoding releases the GIL); J for every object comes from one
joint histogram of (ground truth, prediction); F is computed per object inside
its masks' bounding boxes grown by one pixel, which gives the same boundary
pixels and matches as the full frame (see :func:`object_crop`) at a fraction of
the cost; each boundary is dilated once per frame for every pair that uses it
(:class:`BoundaryCache`), row by row (:func:`stseg.morphology.dilate`).

The **MOSE variant** (``variant="mose"``) equals MOSEv2's official scorer
(henghuiding/MOSE-api, ``MOSEv2/sam2_rcms/tools/score.py`` with ``metricsv2.py``;
tested against that code itself): ``J = (|P ∩ G| + 1) / (|P ∪ G| + 1)`` and Ḟ,
the boundary F with an area-adaptive radius ``min(ceil(0.1 * sqrt(|G|)), cap)``
where ``cap = 0.008 * ||(H, W)||`` is *not* rounded (7.837 px at 854×480); an
empty ground truth uses the cap.  The objects are the first-frame ids.  Beside
J&Ḟ the scorer reports the **disappearance** and **reappearance** J&Ḟ: per
object, the frames are cut into maximal runs where its ground truth is empty
(disappearance) or not (reappearance); a run that starts at the first scored
frame is not counted; each counted run contributes its mean J and mean Ḟ, and
the object's figure is the mean over its runs (none: no figure).  See
:func:`appearance_runs`.

**The footprint rule.**  Both scorers dilate with scikit-image's ``disk(r)``,
which builds its grid as ``np.arange(-r, r + 1)``.  For an integer radius (DAVIS:
``ceil(0.008 * diagonal)``; MOSE below the cap) that is the centred
``(2r+1)²`` disk.  For the non-integer MOSE cap it is not: ``disk(7.837)`` is a
17×17 grid of the coordinates ``-7.837, -6.837, ..., 8.163``, a 191-pixel disk
whose centre sits 0.163 px off the array's middle, and OpenCV anchors it at the
middle.  :func:`disk` builds exactly that array (a centred 15×15, 193-pixel disk
gives a slightly higher Ḟ on most frames).

**Objects that are not numbered 1..n** (a first frame with ids 1, 3, 7): the
official DAVIS 2017 evaluation counts objects ``1..max id``, so the missing ids
are objects whose ground truth is empty on every frame, scored as perfect
when no prediction uses them.  ``evaluate(..., variant="davis")`` follows that
count (with a warning naming the missing ids); the MOSE variant and the
pipeline's own scoring use the ids that are present.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import cv2
import numpy as np

from .errors import StsegError
from .files import glob_escape, read_ahead
from .masks import object_ids, read_label_map
from .morphology import dilate

__all__ = [
    "evaluate_rows",
    "VARIANTS",
    "EvaluationError",
    "disk",
    "boundary_map",
    "boundary_radius",
    "mose_boundary_radius",
    "object_crop",
    "appearance_runs",
    "frame_scores",
    "joint_histogram",
    "sequence_statistics",
    "VideoScores",
    "score_video",
    "score_arrays",
    "evaluate",
]

VARIANTS = ("davis", "mose")
BOUND_TH = 0.008


class EvaluationError(StsegError, ValueError):
    """Inputs that cannot be scored, with the file and the fix."""


@lru_cache(maxsize=64)
def _disk(radius: float) -> np.ndarray:
    kernel = disk(radius)
    kernel.flags.writeable = False
    return kernel


def disk(radius: float) -> np.ndarray:
    """scikit-image's ``disk(radius)``: ``uint8`` ones where ``x² + y² <= r²`` on the grid ``np.arange(-r, r + 1)``.

    For an integer ``r`` this is the centred ``(2r+1)²`` disk; for a non-integer
    one the grid's coordinates are offset (module docstring, "The footprint rule").
    """
    span = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(span, span)
    return ((x**2 + y**2) <= radius**2).astype(np.uint8)


def mose_boundary_radius(gt_area: int, height: int, width: int) -> float:
    """Ḟ's tolerance as MOSEv2's ``f_measure_adaptive(mode='area', bound_th=0.1)``:
    ``min(ceil(0.1 * sqrt(area)), cap)`` with the un-rounded ``cap = 0.008 * ||(H, W)||``; the cap for an empty ground truth."""
    cap = BOUND_TH * float(np.linalg.norm((height, width)))
    if gt_area == 0:
        return cap
    return min(cap, float(np.ceil(0.1 * np.sqrt(gt_area))))


def boundary_radius(height: int, width: int, bound_th: float = BOUND_TH) -> float:
    """The official tolerance: ``bound_th`` pixels if >= 1, else ``ceil(bound_th * diagonal)``."""
    return bound_th if bound_th >= 1 else float(np.ceil(bound_th * np.linalg.norm((height, width))))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a binary mask, as the official ``_seg2bmap`` (same size)."""
    seg = mask.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _f_from_counts(n_pred: int, n_gt: int, pred_match: int, gt_match: int) -> float:
    if n_pred == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_pred > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_pred == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = pred_match / float(n_pred)
        recall = gt_match / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def object_crop(pred: np.ndarray, gt: np.ndarray) -> tuple[slice, slice] | None:
    """Union bounding box of two binary masks, grown by one pixel on every side (clipped).

    Inside it the boundary maps equal the full frame's: the pixel just above/left
    of a mask is a boundary pixel (kept by the one-pixel margin), and the crop's
    last row/column is either the image's own (same special case) or empty in both
    masks and followed by empty pixels (boundary 0 either way).  Every boundary
    pixel lies inside, so dilation and matching are unchanged.
    """
    x0, y0, w0, h0 = cv2.boundingRect(pred.view(np.uint8))
    x1, y1, w1, h1 = (x0, y0, w0, h0) if gt is pred else cv2.boundingRect(gt.view(np.uint8))
    if w0 == 0 and w1 == 0:
        return None
    if w0 == 0:
        x0, y0, w0, h0 = x1, y1, w1, h1
    if w1 == 0:
        x1, y1, w1, h1 = x0, y0, w0, h0
    height, width = pred.shape
    left = max(0, min(x0, x1) - 1)
    top = max(0, min(y0, y1) - 1)
    right = min(width, max(x0 + w0, x1 + w1) + 1)
    bottom = min(height, max(y0 + h0, y1 + h1) + 1)
    return slice(top, bottom), slice(left, right)


def _boundary_f(pred: np.ndarray, gt: np.ndarray, kernel: np.ndarray) -> float:
    crop = object_crop(pred, gt)
    if crop is None:
        return 1.0  # neither mask has a boundary
    pred_b = boundary_map(pred[crop])
    gt_b = boundary_map(gt[crop])
    n_pred = int(np.count_nonzero(pred_b))
    n_gt = int(np.count_nonzero(gt_b))
    if n_pred == 0 or n_gt == 0:
        return _f_from_counts(n_pred, n_gt, 0, 0)
    pred_dil = dilate(pred_b.view(np.uint8), kernel)
    gt_dil = dilate(gt_b.view(np.uint8), kernel)
    pred_match = int(np.count_nonzero(pred_b & gt_dil.view(bool)))
    gt_match = int(np.count_nonzero(gt_b & pred_dil.view(bool)))
    return _f_from_counts(n_pred, n_gt, pred_match, gt_match)


@dataclass
class _Boundary:
    """One object's boundary in one label map, on the crop of its box grown by a pixel, and its dilation on that
    crop grown by the kernel's size (zero outside both: they equal the full frame's, see :func:`object_crop`)."""

    crop: tuple[slice, slice] | None
    boundary: np.ndarray | None
    count: int
    dilated: dict[int, tuple[tuple[slice, slice], np.ndarray]]


class BoundaryCache:
    """Per frame: each (label map, object)'s boundary and its dilations, made once for every pair that uses them
    (N models scored against two references: each model's and each reference's, instead of one per pair)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int], tuple[np.ndarray, _Boundary]] = {}
        self._supports: dict[int, tuple[np.ndarray, tuple[int, int, int, int]]] = {}

    def support(self, labels: np.ndarray) -> tuple[int, int, int, int]:
        """The box ``(x, y, w, h)`` of the label map's non-zero pixels (0-sized when there is none)."""
        key = id(labels)
        if key not in self._supports:
            x, y, w, h = cv2.boundingRect(labels)
            self._supports[key] = (labels, (x, y, w, h))
        return self._supports[key][1]

    def joint_histogram(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """:func:`joint_histogram` of the pair, counted inside the box holding both maps' non-zero pixels (outside
        it every pixel is (0, 0), added to that bin): the same counts."""
        boxes = [b for b in (self.support(gt), self.support(pred)) if b[2] and b[3]]
        if not boxes:
            hist = np.zeros((256, 256), np.int64)
            hist[0, 0] = gt.size
            return hist
        left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
        right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        crop = (slice(top, bottom), slice(left, right))
        hist = joint_histogram(gt[crop], pred[crop])  # OpenCV reads the strided crops as they are
        hist[0, 0] += gt.size - (bottom - top) * (right - left)
        return hist

    def boundary(self, labels: np.ndarray, obj: int) -> _Boundary:
        key = (id(labels), obj)
        if key not in self._entries:  # the label map is kept with its entry, so its id is not reused meanwhile
            x, y, w, h = self.support(labels)  # the object lies inside the map's non-zero box: look there only
            left, top, width, height = cv2.boundingRect((labels[y:y + h, x:x + w] == obj).view(np.uint8))
            crop, found = None, None
            if width:  # object_crop's box: the object's grown by one pixel, clipped to the frame
                crop = (slice(max(0, y + top - 1), min(labels.shape[0], y + top + height + 1)),
                        slice(max(0, x + left - 1), min(labels.shape[1], x + left + width + 1)))
                found = boundary_map(labels[crop] == obj)
            self._entries[key] = (labels, _Boundary(crop, found, 0 if found is None else int(np.count_nonzero(found)), {}))
        return self._entries[key][1]

    @staticmethod
    def dilated(entry: _Boundary, kernel: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
        key = id(kernel)
        if key not in entry.dilated:
            assert entry.crop is not None and entry.boundary is not None
            margin = max(kernel.shape) // 2 + 1  # beyond the kernel's reach from its anchor (the centre)
            rows, cols = entry.crop
            grown = (slice(max(0, rows.start - margin), min(shape[0], rows.stop + margin)),
                     slice(max(0, cols.start - margin), min(shape[1], cols.stop + margin)))
            canvas = np.zeros((grown[0].stop - grown[0].start, grown[1].stop - grown[1].start), np.uint8)
            canvas[rows.start - grown[0].start:rows.stop - grown[0].start,
                   cols.start - grown[1].start:cols.stop - grown[1].start] = entry.boundary
            entry.dilated[key] = (grown, dilate(canvas, kernel).view(bool))
        return entry.dilated[key]


def _overlap(a: tuple[slice, slice], mask: np.ndarray, b: tuple[slice, slice], other: np.ndarray) -> int:
    """Pixels set in both ``mask`` (placed at ``a``) and ``other`` (placed at ``b``)."""
    top, bottom = max(a[0].start, b[0].start), min(a[0].stop, b[0].stop)
    left, right = max(a[1].start, b[1].start), min(a[1].stop, b[1].stop)
    if top >= bottom or left >= right:
        return 0
    first = mask[top - a[0].start:bottom - a[0].start, left - a[1].start:right - a[1].start]
    second = other[top - b[0].start:bottom - b[0].start, left - b[1].start:right - b[1].start]
    return int(np.count_nonzero(first & second))


def _boundary_f_cached(pred: _Boundary, gt: _Boundary, kernel: np.ndarray, shape: tuple[int, int]) -> float:
    """:func:`_boundary_f` from cached boundaries and dilations (the same counts)."""
    if pred.crop is None and gt.crop is None:
        return 1.0
    if pred.count == 0 or gt.count == 0:
        return _f_from_counts(pred.count, gt.count, 0, 0)
    assert pred.crop is not None and gt.crop is not None and pred.boundary is not None and gt.boundary is not None
    gt_region, gt_dil = BoundaryCache.dilated(gt, kernel, shape)
    pred_region, pred_dil = BoundaryCache.dilated(pred, kernel, shape)
    pred_match = _overlap(pred.crop, pred.boundary, gt_region, gt_dil)
    gt_match = _overlap(gt.crop, gt.boundary, pred_region, pred_dil)
    return _f_from_counts(pred.count, gt.count, pred_match, gt_match)


def joint_histogram(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """``(256, 256)`` pixel counts of (ground-truth id, predicted id); ground-truth 255 counted as 0."""
    hist = cv2.calcHist([gt, pred], [0, 1], None, [256, 256], [0, 256, 0, 256])  # float32: exact below 2**24
    hist = hist.astype(np.int64)
    if hist[255].any():
        hist[0] += hist[255]
        hist[255] = 0
    return hist


def frame_scores(
    gt: np.ndarray,
    pred: np.ndarray,
    objects: Sequence[int],
    variant: str = "davis",
    kernel: np.ndarray | None = None,
    hist: np.ndarray | None = None,
    boundaries: BoundaryCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object in one frame.

    ``gt`` and ``pred`` are label maps (``uint8`` object ids); 255 in ``gt``
    counts as background.  Returns two float arrays of length ``len(objects)``.
    ``hist`` is :func:`joint_histogram` of the pair when the caller has it; ``boundaries`` a cache of the frame's
    boundaries and dilations shared with other pairs of the frame (the same values).
    """
    if gt.shape != pred.shape:
        raise EvaluationError(f"ground truth {gt.shape} and prediction {pred.shape} differ in size")
    if variant not in VARIANTS:
        raise EvaluationError(f"unknown J&F variant {variant!r}; choose one of {VARIANTS}")
    gt = np.ascontiguousarray(gt, dtype=np.uint8)
    pred = np.ascontiguousarray(pred, dtype=np.uint8)
    joint = joint_histogram(gt, pred) if hist is None else hist
    gt_area = joint.sum(axis=1)
    pred_area = joint.sum(axis=0)
    height, width = gt.shape
    if kernel is None and variant == "davis":
        kernel = disk(boundary_radius(height, width))
    j_values = np.empty(len(objects))
    f_values = np.empty(len(objects))
    for index, obj in enumerate(objects):
        inter = int(joint[obj, obj])
        union = int(gt_area[obj] + pred_area[obj] - inter)
        if variant == "mose":
            j_values[index] = (inter + 1) / (union + 1)
        else:
            j_values[index] = 1.0 if union == 0 else inter / union
        if gt_area[obj] == 0 and pred_area[obj] == 0:
            f_values[index] = 1.0
            continue
        if variant == "mose":
            object_kernel = _disk(mose_boundary_radius(int(gt_area[obj]), height, width))
        else:
            assert kernel is not None
            object_kernel = kernel
        if boundaries is not None:
            f_values[index] = _boundary_f_cached(boundaries.boundary(pred, obj), boundaries.boundary(gt, obj),
                                                 object_kernel, (height, width))
        else:
            f_values[index] = _boundary_f(pred == obj, gt == obj, object_kernel)
    return j_values, f_values


def sequence_statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall (fraction > 0.5) and decay of one object's per-frame values, as the official code.

    The official code stores the decay bin indices as ``uint8``, which wraps past
    256 frames; here they are plain integers (identical results up to 256 frames).
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(np.nanmean(values))
    recall = float(np.nanmean(values > 0.5))
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)
    bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
    decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay


def appearance_runs(empty: Sequence[bool]) -> tuple[list[slice], list[slice]]:
    """The disappearance and reappearance runs of one object's scored frames, as MOSEv2's ``score.py`` counts them.

    ``empty[t]``: the ground truth of the object is empty on scored frame ``t``.
    The frames are cut into maximal runs of equal ``empty``; a run of empty frames
    is a disappearance, a run of non-empty frames a reappearance, except a run that
    starts at the first scored frame (nothing disappeared or reappeared there).
    """
    flags = np.asarray(empty, dtype=bool)
    starts = [0, *(np.flatnonzero(flags[1:] != flags[:-1]) + 1).tolist()]
    ends = starts[1:] + [len(flags)]
    gone: list[slice] = []
    back: list[slice] = []
    for start, end in zip(starts[1:], ends[1:]):
        (gone if flags[start] else back).append(slice(start, end))
    return gone, back


def _runs_mean(values: np.ndarray, runs: list[slice]) -> float:
    return float(np.mean([values[run].mean() for run in runs])) if runs else float("nan")


@dataclass
class VideoScores:
    """Per-frame J and F of every object of one video (``(objects, scored frames)`` arrays).

    ``empty`` marks the frames where an object's ground truth is empty (for the
    MOSE disappearance / reappearance figures).
    """

    video: str
    objects: tuple[int, ...]
    frames: tuple[str, ...]
    j: np.ndarray
    f: np.ndarray
    empty: np.ndarray | None = None
    variant: str = "davis"
    #: per object and scored frame: whether the frame comes after the object's first given mask (None: all do)
    after_start: np.ndarray | None = None

    def rows(self, skip_absent: bool = False) -> list[dict]:
        """One dict per object: J/F mean, recall, decay and J&F mean (MOSE: and the disappearance /
        reappearance J, Ḟ and J&Ḟ, NaN for an object without such runs).

        ``skip_absent``: score each object only on the frames where the reference shows it
        (all frames when it never does); ``frames`` then counts those frames.
        """
        out = []
        for index, obj in enumerate(self.objects):
            scored = np.ones(len(self.frames), dtype=bool) if self.after_start is None else self.after_start[index]
            keep = scored
            if skip_absent and self.empty is not None and not self.empty[index][scored].all():
                keep = scored & ~self.empty[index]
            jm, jr, jd = sequence_statistics(self.j[index][keep])
            fm, fr, fd = sequence_statistics(self.f[index][keep])
            row = {
                "video": self.video,
                "object": obj,
                "frames": int(keep.sum()),
                "J": jm,
                "F": fm,
                "JF": (jm + fm) / 2,
                "J_recall": jr,
                "F_recall": fr,
                "J_decay": jd,
                "F_decay": fd,
            }
            if self.variant == "mose" and self.empty is not None:
                gone, back = appearance_runs(self.empty[index][scored])
                for name, runs in (("disappear", gone), ("reappear", back)):
                    j_run, f_run = _runs_mean(self.j[index][scored], runs), _runs_mean(self.f[index][scored], runs)
                    row.update({f"{name}_J": j_run, f"{name}_F": f_run, f"{name}_JF": (j_run + f_run) / 2})
            out.append(row)
        return out


def _frame_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")}


def score_video(
    gt_dir: str | os.PathLike[str],
    pred_dir: str | os.PathLike[str],
    video: str = "",
    variant: str = "davis",
    objects: Sequence[int] | None = None,
    count_to_max: bool = False,
    starts: Mapping[int, str] | None = None,
) -> VideoScores:
    """Score one video's predictions against its ground truth, the official way.

    ``gt_dir`` holds the ground-truth PNGs (every frame to score), ``pred_dir``
    the predicted PNGs for (at least) the same frame names.  ``objects`` defaults
    to the ids in the first ground-truth frame; with ``count_to_max`` to
    ``1..max id`` as the official DAVIS 2017 evaluation counts them (a warning
    names the ids that are missing from the first frame).  ``starts``: object id ->
    the frame of its first given mask, for objects first annotated later; each is
    scored only on the frames after it (YouTube-VOS / MOSE), the others on every
    frame but the first and the last.
    """
    scores = score_video_pairs({"gt": gt_dir}, {"pred": pred_dir}, video or Path(gt_dir).name, variant, objects,
                               count_to_max, starts)
    return scores["gt", "pred"]


def score_video_pairs(
    references: Mapping[str, str | os.PathLike[str]],
    predictions: Mapping[str, str | os.PathLike[str]],
    video: str,
    variant: str = "davis",
    objects: Sequence[int] | None = None,
    count_to_max: bool = False,
    starts: Mapping[int, str] | None = None,
    on_frame: Callable[[str, tuple[int, ...], Mapping[str, np.ndarray], "BoundaryCache", Any], None] | None = None,
    prepare: Callable[[str], Any] | None = None,
) -> dict[tuple[str, str], VideoScores]:
    """:func:`score_video` of every prediction folder against every reference folder, reading each PNG once.

    Frame by frame, every reference's and every prediction's PNG is decoded once (two reader threads decode ahead)
    and each (reference, prediction) pair is scored on it, so scoring N models against two references decodes
    each file once instead of N or two times.  The frames and objects are the first reference's.
    ``on_frame(frame, objects, predictions, boundaries, prepared)``: called with each scored frame's decoded
    predictions and their boundaries (the edge alignment reads them there instead of decoding and tracing them
    again), and ``prepare(frame)``, which the reader threads compute ahead with the decoding (None without it)."""
    first_ref = next(iter(references.values()))
    ref_files = {name: _frame_files(Path(d)) for name, d in references.items()}
    for name, files in ref_files.items():
        if not files:
            raise EvaluationError(f"{references[name]}: no ground-truth PNGs for video {video!r}.")
    gt_files = ref_files[next(iter(references))]
    strays = sorted(s for s in gt_files if not (s.isascii() and s.isdigit()))
    if strays:  # a readme.png would be sorted last and the real last frame scored
        raise EvaluationError(f"{first_ref}: {', '.join(s + '.png' for s in strays[:5])} in the ground truth of video "
                              f"{video!r} is not a frame (frame names are integers, 00000.png ...). Move it out.")
    frames = sorted(gt_files, key=int)
    pred_files = {name: _frame_files(Path(d)) for name, d in predictions.items()}
    numbers = [int(f) for f in frames]
    stride = math.gcd(*(b - a for a, b in zip(numbers, numbers[1:]))) if len(numbers) > 1 else 1
    beyond = sorted({f for files in pred_files.values() for f in files if f.isascii() and f.isdigit() and numbers
                     and int(f) > numbers[-1] and (int(f) - numbers[0]) % stride == 0}, key=int)
    if beyond:  # the ground truth lacks its last frame(s): its own last would be left unscored, the rest shifted
        raise EvaluationError(
            f"{first_ref}: the ground truth of video {video!r} ends at {frames[-1]}.png but the predictions go on to "
            f"{beyond[-1]}.png: its last frame(s) ({', '.join(b + '.png' for b in beyond[:5])}) are missing. J&F "
            "scores every frame but the first and the last, so restore them (or score only --videos that are whole)."
        )
    if len(frames) < 3:
        raise EvaluationError(
            f"{first_ref}: {len(frames)} ground-truth frame(s) for video {video!r}; J&F scores the frames between the "
            "first and the last, so a video needs at least 3. Leave it out (--videos) or complete its ground truth."
        )
    scored = frames[1:-1]
    folders = [(references[n], files, "reference masks") for n, files in ref_files.items()]
    folders += [(predictions[n], files, "predictions") for n, files in pred_files.items()]
    for folder, files, what in folders:
        missing = [f for f in scored if f not in files]
        if missing:
            raise EvaluationError(
                f"{folder}: {what} missing for frame(s) {', '.join(m + '.png' for m in missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''} of video {video!r}. Every ground-truth frame needs a prediction."
            )
    if objects is None:
        first_labels = read_label_map(gt_files[frames[0]])
        from .dataset import background_index_problem

        background = background_index_problem(gt_files[frames[0]], first_labels)
        if background:
            raise EvaluationError(background)
        objects = object_ids(first_labels)
        if count_to_max and objects:
            missing_ids = sorted(set(range(1, max(objects) + 1)) - set(objects))
            if missing_ids:
                warnings.warn(
                    f"{gt_files[frames[0]]}: object id(s) {missing_ids} are missing from the first frame (ids "
                    f"{list(objects)}); the DAVIS 2017 evaluation counts objects 1..{max(objects)}, so each missing "
                    "id is scored as an object with empty ground truth.",
                    stacklevel=2,
                )
                objects = tuple(range(1, max(objects) + 1))
    objects = tuple(objects)

    def read_frame(frame: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], Any]:
        refs = {name: read_label_map(files[frame]) for name, files in ref_files.items()}
        preds = {name: read_label_map(files[frame], allow_greyscale=True) for name, files in pred_files.items()}
        return refs, preds, None if prepare is None else prepare(frame)

    scorers = {(ref, pred): _PairScorer(objects, video, scored, variant) for ref in references for pred in predictions}
    for frame, (refs, preds, prepared) in zip(scored, read_ahead(read_frame, scored)):
        boundaries = BoundaryCache()  # each map's boundaries and dilations, once for all its pairs
        for (ref, pred), scorer in scorers.items():
            scorer.add(refs[ref], preds[pred], str(pred_files[pred][frame]), boundaries)
        if on_frame is not None:
            on_frame(frame, objects, preds, boundaries, prepared)
    results = {pair: scorer.result() for pair, scorer in scorers.items()}
    if starts:
        position = {frame: i for i, frame in enumerate(frames)}
        first = np.array([position.get(starts.get(obj, frames[0]), 0) for obj in objects])
        for result in results.values():
            result.after_start = np.arange(1, len(frames) - 1)[None, :] > first[:, None]
    return results


def score_arrays(
    pairs: Iterable[tuple[np.ndarray, np.ndarray, str]],
    objects: Sequence[int],
    video: str,
    frames: Sequence[str],
    variant: str = "davis",
) -> VideoScores:
    """Score (ground truth, prediction, prediction's name) label maps, one per scored frame.

    The caller has already dropped the first and last frames; ``frames`` names
    the scored frames.  A prediction of another size, or with an id that is not
    among ``objects``, raises :class:`EvaluationError` naming it.
    """
    scorer = _PairScorer(objects, video, frames, variant)
    for gt, pred, name in pairs:
        scorer.add(gt, pred, name)
    return scorer.result()


class _PairScorer:
    """The per-frame J and F of one (reference, prediction) pair, frame after frame (:func:`score_arrays`)."""

    def __init__(self, objects: Sequence[int], video: str, frames: Sequence[str], variant: str) -> None:
        self.objects = tuple(objects)
        self.video, self.frames, self.variant = video, tuple(frames), variant
        self.allowed = np.zeros(256, dtype=bool)
        self.allowed[[0, *self.objects]] = True
        self.j = np.zeros((len(self.objects), len(frames)))
        self.f = np.zeros((len(self.objects), len(frames)))
        self.empty = np.zeros((len(self.objects), len(frames)), dtype=bool)
        self.kernel: np.ndarray | None = None
        self.count = 0

    def add(self, gt: np.ndarray, pred: np.ndarray, name: str, boundaries: BoundaryCache | None = None) -> None:
        if pred.shape != gt.shape:
            raise EvaluationError(
                f"{name}: prediction is {pred.shape[1]}x{pred.shape[0]} but the ground truth "
                f"is {gt.shape[1]}x{gt.shape[0]}. Write predictions at the original frame size."
            )
        if self.count >= len(self.frames):
            raise EvaluationError(f"video {self.video!r}: more frame pairs than the {len(self.frames)} expected")
        hist = joint_histogram(gt, pred) if boundaries is None else boundaries.joint_histogram(gt, pred)
        present = np.flatnonzero(hist.sum(axis=0))
        unknown = [int(i) for i in present if not self.allowed[i]]
        if unknown:
            raise EvaluationError(
                f"{name}: predicted object id(s) {unknown} are not in the first-frame ground "
                f"truth of video {self.video!r} (objects {list(self.objects)}). Predictions must use the annotation's ids."
            )
        if self.kernel is None:
            self.kernel = _disk(boundary_radius(*gt.shape))  # one object for every pair: their dilations are shared
        t = self.count
        self.j[:, t], self.f[:, t] = frame_scores(gt, pred, self.objects, self.variant, self.kernel, hist, boundaries)
        self.empty[:, t] = hist.sum(axis=1)[list(self.objects)] == 0
        self.count += 1

    def result(self) -> VideoScores:
        if self.count != len(self.frames):
            raise EvaluationError(f"video {self.video!r}: {self.count} frame pairs scored, {len(self.frames)} expected")
        return VideoScores(video=self.video, objects=self.objects, frames=self.frames, j=self.j, f=self.f,
                           empty=self.empty, variant=self.variant)


def _score_task(args: tuple) -> list[dict]:
    gt_dir, pred_dir, video, variant = args
    return score_video(gt_dir, pred_dir, video, variant, count_to_max=variant == "davis").rows()


def evaluate(
    gt_root: str | os.PathLike[str],
    pred_root: str | os.PathLike[str],
    videos: Iterable[str] | None = None,
    variant: str = "davis",
    workers: int = 1,
):
    """:func:`evaluate_rows` as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(evaluate_rows(gt_root, pred_root, videos, variant, workers))


def evaluate_rows(
    gt_root: str | os.PathLike[str],
    pred_root: str | os.PathLike[str],
    videos: Iterable[str] | None = None,
    variant: str = "davis",
    workers: int = 1,
) -> list[dict]:
    """Score every video; one row (a dict) per (video, object).

    ``davis`` counts each video's objects ``1..max id`` as the official DAVIS 2017
    evaluation does (module docstring); ``mose`` scores the first frame's ids and adds
    the disappearance / reappearance columns.
    """
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    for name, root in (("--gt", gt_root), ("--pred", pred_root)):
        if not root.is_dir():
            raise EvaluationError(f"{root}: no such folder ({name}); give a folder of <video>/<frame>.png.")
    if videos is None:
        videos = sorted(p.name for p in gt_root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not videos:
        raise EvaluationError(f"{gt_root}: no video folders to score (--gt holds <video>/<frame>.png; is it the "
                              "Annotations folder itself?)")
    tasks = [(gt_root / v, pred_root / v, v, variant) for v in videos]
    for _, pred_dir, video, _ in tasks:
        if not pred_dir.is_dir():
            hint = ""
            nested = sorted(p.parent.name for p in pred_root.glob(f"*/{glob_escape(video)}") if p.is_dir())
            if nested:
                hint = (f" {pred_root} looks like a folder of several results ({', '.join(nested[:3])}"
                        f"{', ...' if len(nested) > 3 else ''} hold {video!r}): point --pred at one of them, "
                        f"e.g. --pred {pred_root / nested[0]}.")
            elif (pred_root.parent / video).is_dir() or any(pred_root.glob("*.png")):
                hint = f" {pred_root} looks like one video's folder: point --pred at the folder holding <video>/ folders."
            raise EvaluationError(f"{pred_dir}: no predictions for video {video!r}.{hint}")
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunks = list(pool.map(_score_task, tasks))
    else:
        chunks = [_score_task(t) for t in tasks]
    return [row for chunk in chunks for row in chunk]
