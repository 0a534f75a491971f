"""Pseudo-labels from the models' masks guided by the fused boxes (the third PGMR stage).

STSeg's paper is not available beyond its abstract and figure captions, so this
rule is ours.  For each frame and object ``k``:

1. **Vote.**  ``V_k(p) = Σ_m w_mk [L_m(p) = k] / Σ_m w_mk``, the weighted share of
   models labelling pixel ``p`` as ``k``.  A *foreground-only* model (TMO) votes
   "some object" at its foreground pixels: its vote is split between the objects
   in proportion to the other models' votes there, and it votes background
   elsewhere (it lowers ``V_k`` wherever it sees no object).
2. **Box prior.**  ``S_k(p) = V_k(p) · G_k(p)`` with ``G_k = 1`` inside the
   average-fused box, ``ring_weight`` between it and the max-fused box, and 0
   outside the max-fused box or when the object is not kept in that frame
   (fewer than ``min_votes`` models see it).
3. **Decision.**  ``p`` gets the object with the largest ``S_k(p)`` if that is at
   least ``threshold``, else background; equal scores go to the lower id.

**Redundancy weights** (``redundancy_power > 0``, the default 8): models that
agree almost everywhere (say ``copy`` and ``global`` on a static shot, or two
models from one family) share one vote instead of outvoting the rest; see
:func:`redundancy_weights`.

**Adaptive weights** (``weighting="adaptive"``; off by default, see docs/method.md): a first pass with
uniform weights gives a provisional pseudo-label; each model's weight for object
``k`` becomes its IoU with it over the video, raised to ``gamma``; a second
pass gives the final pseudo-label.  Models that agree with the consensus on an
object steer that object's label; a model that drifts off loses its say.

Frame 0 is the given annotation.  On-disk format: ``pseudo/<video>/<frame>.png``
(palette PNGs like the masks) and ``weights/<video>.csv`` (model, object,
iou, weight).

**Cost** (``benchmarks/bench_stages.py``).  Every model's PNG is decoded once:
the passes after the first read the frames from memory, where each label map
is kept as the crop of its objects' bounding box (up to :data:`KEEP_BYTES`; a
longer video streams its frames from disk again in each pass); two reader
threads decode ahead.  Each object's votes are computed only inside its own
area: with the box prior, the union of its two fused boxes (outside it the
prior is 0); without it, the box where some model sees an object.  The winner
of each pixel is then taken object after object (the first of equal votes wins,
as ``np.argmax`` does), and a pixel no vote reaches gets what the full frame's
rule gives a pixel without votes, so the result is the full frame's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from .annotation import read_annotation
from .errors import MissingInputError
from .files import atomic_dir, read_ahead
from .fusion import fused_lookup
from .masks import read_label_map, write_label_map
from .settings import PseudoLabelSettings

__all__ = ["box_prior", "pseudo_label_frame", "build_pseudo_labels", "redundancy_weights"]

WEIGHTINGS = ("adaptive", "uniform")

#: decoded label maps (their objects' crops) kept in memory for the later passes, in bytes
KEEP_BYTES = 1 << 30  # with the rest of the job, within profiles/slurm's default 2000 MB per job


def _box_slices(box: Sequence[float], height: int, width: int, grow: str) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    if grow == "out":  # the smallest pixel box containing the (fractional) box
        xs, ys, xe, ye = np.floor(x0), np.floor(y0), np.ceil(x1), np.ceil(y1)
    else:  # pixels whose centre lies inside
        xs, ys, xe, ye = np.round(x0), np.round(y0), np.round(x1), np.round(y1)
    return slice(int(max(0, ys)), int(min(height, ye))), slice(int(max(0, xs)), int(min(width, xe)))


def box_prior(avg_box, max_box, shape: tuple[int, int], ring_weight: float,
              region: tuple[slice, slice] | None = None) -> np.ndarray:
    """``G_k``: 1 inside the average box, ``ring_weight`` in the rest of the max box, 0 elsewhere (only inside
    ``region`` of the frame when it is given)."""
    rows, cols = region if region is not None else (slice(0, shape[0]), slice(0, shape[1]))
    prior = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
    if max_box is None:
        return prior
    for box, grow, value in ((max_box, "out", ring_weight), (avg_box, "round", 1.0)):
        ys, xs = _box_slices(box, shape[0], shape[1], grow)
        top, bottom = max(ys.start, rows.start) - rows.start, min(ys.stop, rows.stop) - rows.start
        left, right = max(xs.start, cols.start) - cols.start, min(xs.stop, cols.stop) - cols.start
        if top < bottom and left < right:
            prior[top:bottom, left:right] = value
    return prior


def _support(maps: Sequence[np.ndarray], shape: tuple[int, int]) -> tuple[slice, slice]:
    """The smallest box holding every non-zero pixel of ``maps`` (an empty box when there is none)."""
    top, left, bottom, right = shape[0], shape[1], 0, 0
    for labels in maps:
        x, y, w, h = cv2.boundingRect(labels.view(np.uint8))
        if w and h:
            top, left, bottom, right = min(top, y), min(left, x), max(bottom, y + h), max(right, x + w)
    return (slice(top, bottom), slice(left, right)) if top < bottom else (slice(0, 0), slice(0, 0))


def pseudo_label_frame(
    label_maps: Sequence[np.ndarray],
    weights: np.ndarray,
    objects: Sequence[int],
    boxes: Mapping[int, tuple | None] | None,
    config: PseudoLabelSettings,
    foreground: Sequence[np.ndarray] = (),
    foreground_weights: Sequence[float] | np.ndarray = (),
) -> np.ndarray:
    """One frame's pseudo-label.

    ``label_maps``: one label map per object-level model; ``weights``: ``(models,
    objects)``; ``boxes``: object -> ``(avg_box, max_box)`` or ``None`` when the
    object is not kept (``boxes=None`` disables the box prior); ``foreground``:
    boolean maps of foreground-only models with their ``foreground_weights``.
    """
    shape = (label_maps or foreground)[0].shape
    ids = np.asarray(objects, dtype=np.uint8)
    # an object's vote is 0 outside its fused boxes (the prior) or, without them, outside the models' objects:
    # each object's votes are computed inside its own area, and a pixel no vote reaches gets what the full frame's
    # rule gives a pixel without votes
    empty_label = ids[0] if len(ids) and 0.0 >= config.threshold - 1e-6 else 0
    out = np.full(shape, empty_label, np.uint8)
    priors: dict[int, tuple] = {}  # object's index -> its fused (average, max) boxes, with the box prior
    areas: list[tuple[int, tuple[slice, slice]]] = []  # (object's index, its area)
    if boxes is not None and config.use_boxes:
        for k, obj in enumerate(objects):
            fused = boxes.get(obj)
            if fused is not None and fused[1] is not None:  # the prior is 0 outside the union of its two boxes
                rows, cols = _box_slices(fused[1], shape[0], shape[1], "out")
                avg_rows, avg_cols = _box_slices(fused[0], shape[0], shape[1], "round")
                if avg_rows.start < avg_rows.stop and avg_cols.start < avg_cols.stop:
                    rows = slice(min(rows.start, avg_rows.start), max(rows.stop, avg_rows.stop))
                    cols = slice(min(cols.start, avg_cols.start), max(cols.stop, avg_cols.stop))
                areas.append((k, (rows, cols)))
                priors[k] = fused
    else:
        support = _support([*label_maps, *(fg.view(np.uint8) for fg in foreground)], shape)
        areas = [(k, support) for k in range(len(objects))]
    areas = [(k, a) for k, a in areas if a[0].start < a[0].stop and a[1].start < a[1].stop]
    if not areas:
        return out
    # the working region: the hull of the areas (outside it every vote is 0)
    top, bottom = min(a[0].start for _, a in areas), max(a[0].stop for _, a in areas)
    left, right = min(a[1].start for _, a in areas), max(a[1].stop for _, a in areas)

    def local(area: tuple[slice, slice]) -> tuple[slice, slice]:
        return slice(area[0].start - top, area[0].stop - top), slice(area[1].start - left, area[1].stop - left)

    votes: dict[int, np.ndarray] = {}
    for k, area in areas:
        obj, vote = objects[k], np.zeros((area[0].stop - area[0].start, area[1].stop - area[1].start), np.float32)
        for m, labels in enumerate(label_maps):
            if weights[m, k] > 0:  # the same sums as vote += w * (labels == obj), only where it adds w
                np.add(vote, weights[m, k], out=vote, where=labels[area] == obj)
        votes[k] = vote
    totals = weights.sum(axis=0).astype(np.float32) if len(label_maps) else np.zeros(len(objects), np.float32)
    if len(foreground):
        mass = np.zeros((bottom - top, right - left), np.float32)  # the sum over objects, in their order
        for k, area in areas:
            mass[local(area)] += votes[k]
        shares = {}
        for k, area in areas:
            total = mass[local(area)]
            shares[k] = np.divide(votes[k], total, out=np.zeros_like(votes[k]), where=total > 0)
        for fg, w in zip(foreground, foreground_weights):
            for k, area in areas:
                votes[k] += np.float32(w) * shares[k] * fg[area]
            totals = totals + np.float32(w)
    divisors = np.where(totals > 0, totals, 1)
    score = np.zeros((bottom - top, right - left), np.float32)
    best = np.full(score.shape, ids[0], np.uint8)
    for k, area in areas:  # argmax over the objects, the first of equal votes winning, as np.argmax
        vote = votes[k]
        vote /= divisors[k]
        if k in priors:
            vote *= box_prior(priors[k][0], priors[k][1], shape, config.ring_weight, area)
        here = local(area)
        better = vote > score[here]
        score[here][better] = vote[better]
        best[here][better] = ids[k]
    out[top:bottom, left:right] = np.where(score >= config.threshold - 1e-6, best, 0)
    return out


def redundancy_weights(frames: Iterator[Sequence[np.ndarray]], objects: Sequence[int], power: float) -> np.ndarray:
    """``(models, objects)`` weights that make near-duplicate models share one vote.

    ``s_mjk`` is the mean IoU of models ``m`` and ``j`` on object ``k`` over the
    frames (frames where both miss the object are skipped); the weight is
    ``1 / Σ_j s_mjk^power`` (the sum includes ``j = m``).  Two models that always
    agree get half a vote each, a model unlike the others keeps a whole one, so a
    family of correlated models cannot outvote the rest by numbers alone.
    """
    sums: np.ndarray | None = None
    counts = np.zeros(0)
    for maps in frames:
        n = len(maps)
        if sums is None:
            sums = np.zeros((n, n, len(objects)))
            counts = np.zeros_like(sums)
        region = _support(maps, maps[0].shape)  # both masks are empty outside it
        for k, obj in enumerate(objects):
            masks = [labels[region] == obj for labels in maps]
            for a in range(n):
                for b in range(a + 1, n):
                    union = np.count_nonzero(masks[a] | masks[b])
                    if union:
                        value = np.count_nonzero(masks[a] & masks[b]) / union
                        sums[a, b, k] += value
                        sums[b, a, k] += value
                        counts[a, b, k] += 1
                        counts[b, a, k] += 1
    if sums is None:
        raise ValueError("no frames to weigh the models on")
    similarity = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    for a in range(similarity.shape[0]):
        similarity[a, a, :] = 1.0
    return 1.0 / (similarity**power).sum(axis=1)


class _LabelMaps:
    """Every model's label maps of a video, decoded once: the first pass reads the PNGs and keeps each map as the
    crop of its non-zero pixels while they fit in ``keep_bytes``; later passes rebuild the maps from memory (or,
    for a video too long to keep, read them again)."""

    def __init__(self, folders: Mapping[str, Path], frames: Sequence[str], keep_bytes: int | None = None) -> None:
        self.folders, self.frames = folders, list(frames)
        self.keep_bytes = KEEP_BYTES if keep_bytes is None else keep_bytes
        self.kept: dict[str, list[tuple[int, int, tuple[int, int], np.ndarray]]] = {}
        self.size = 0
        self.tried = False  # the first pass keeps what it reads; a pass that ran out of room gives up keeping
        self.complete = False

    def _read(self, frame: str) -> list[np.ndarray]:
        return [read_label_map(folder / f"{frame}.png", allow_greyscale=True) for folder in self.folders.values()]

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        """Each frame's label maps, one per model, in ``folders``' order."""
        if self.complete:
            for frame in self.frames:
                maps = []
                for top, left, shape, crop in self.kept[frame]:
                    labels = np.zeros(shape, np.uint8)
                    labels[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
                    maps.append(labels)
                yield maps
            return
        keeping, self.tried = not self.tried, True
        for frame, maps in zip(self.frames, read_ahead(self._read, self.frames)):
            if keeping:
                crops = []
                for labels in maps:
                    x, y, w, h = cv2.boundingRect(labels)
                    crops.append((y, x, labels.shape, labels[y:y + h, x:x + w].copy()))
                    self.size += w * h
                self.kept[frame] = crops
                keeping = self.size <= self.keep_bytes
                if not keeping:
                    self.kept.clear()
            yield maps
        self.complete = keeping and len(self.kept) == len(self.frames)


def _frames(mask_dirs: Mapping[str, Path]) -> list[str]:
    first = next(iter(mask_dirs.values()))
    return sorted((p.stem for p in Path(first).glob("*.png") if not p.name.startswith(".")), key=int)


def build_pseudo_labels(
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    annotation: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    fused: pd.DataFrame | None,
    out_dir: str | os.PathLike[str],
    config: PseudoLabelSettings,
    foreground_models: Sequence[str] = (),
) -> pd.DataFrame:
    """Write one video's pseudo-labels; return the model weights table.

    ``annotation``: the first frame's PNG, then any later PNGs that introduce objects (:mod:`stseg.annotation`):
    a given mask is the pseudo-label of its object on its frame.
    ``foreground_models``: the models among ``mask_dirs`` whose masks are foreground only (TMO).
    """
    folders = {name: Path(d) for name, d in mask_dirs.items()}
    unknown_fg = set(foreground_models) - set(folders)
    if unknown_fg:
        raise ValueError(f"foreground-only model(s) {sorted(unknown_fg)} have no masks here")
    object_models = [m for m in folders if m not in foreground_models]
    fg_models = [m for m in folders if m in foreground_models]
    given = read_annotation(annotation)
    labels0, palette = given.labels, given.palette
    objects = list(given.objects)
    frames = _frames(folders)
    for name, folder in folders.items():
        missing = [f for f in frames if not (folder / f"{f}.png").is_file()]
        if missing:
            raise MissingInputError(f"{folder}: masks of model {name!r} missing for frame(s) {missing[:5]}; rerun its job.")
    boxes = fused_lookup(fused) if fused is not None and config.use_boxes else None

    label_maps = _LabelMaps({m: folders[m] for m in [*object_models, *fg_models]}, frames[1:])
    count = len(object_models)

    def frames_of(weights: np.ndarray, fg_weights: np.ndarray) -> Iterator[tuple[str, list[np.ndarray], list[np.ndarray], np.ndarray]]:
        for frame, every in zip(frames[1:], label_maps):
            maps, fgs = every[:count], [labels > 0 for labels in every[count:]]
            frame_boxes = None if boxes is None else boxes.get(frame, {})
            label = given.paste(frame, pseudo_label_frame(maps, weights, objects, frame_boxes, config, fgs, fg_weights))
            yield frame, maps, fgs, label

    weights = np.ones((len(object_models), len(objects)))
    fg_weights = np.ones(len(fg_models))
    redundancy = np.ones_like(weights)
    if config.redundancy_power > 0 and len(object_models) > 1:
        redundancy = redundancy_weights((every[:count] for every in label_maps), objects, config.redundancy_power)
        weights = redundancy.copy()
    iou_table = None
    if config.weighting not in WEIGHTINGS:
        raise ValueError(f"pseudo-label weighting {config.weighting!r} is not one of {WEIGHTINGS}")
    if config.weighting == "adaptive" and len(folders) > 1:
        inter = np.zeros((len(object_models), len(objects)))
        union = np.zeros_like(inter)
        fg_inter = np.zeros(len(fg_models))
        fg_union = np.zeros(len(fg_models))
        for _, maps, fgs, label in frames_of(weights, fg_weights):
            for k, obj in enumerate(objects):
                target = label == obj
                for m, labels in enumerate(maps):
                    mine = labels == obj
                    inter[m, k] += np.count_nonzero(mine & target)
                    union[m, k] += np.count_nonzero(mine | target)
            for m, fg in enumerate(fgs):
                target = label > 0
                fg_inter[m] += np.count_nonzero(fg & target)
                fg_union[m] += np.count_nonzero(fg | target)
        iou = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
        fg_iou = np.divide(fg_inter, fg_union, out=np.ones_like(fg_inter), where=fg_union > 0)
        weights = redundancy * iou**config.gamma
        fg_weights = fg_iou**config.gamma
        dead = weights.sum(axis=0) == 0
        weights[:, dead] = 1.0
        iou_table = (iou, fg_iou)

    rows = []
    for m, name in enumerate(object_models):
        for k, obj in enumerate(objects):
            rows.append((name, obj, np.nan if iou_table is None else iou_table[0][m, k], weights[m, k]))
    for m, name in enumerate(fg_models):
        rows.append((name, 0, np.nan if iou_table is None else iou_table[1][m], fg_weights[m]))
    with atomic_dir(out_dir) as tmp:
        write_label_map(tmp / f"{frames[0]}.png", labels0, palette)
        for frame, _, _, label in frames_of(weights, fg_weights):
            write_label_map(tmp / f"{frame}.png", label, palette)
    return pd.DataFrame(rows, columns=["model", "object", "iou", "weight"])
