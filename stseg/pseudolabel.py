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

**Adaptive weights** (``weighting="adaptive"``; off by default, see the README): a first pass with
uniform weights gives a provisional pseudo-label; each model's weight for object
``k`` becomes its IoU with it over the video, raised to ``gamma``; a second
pass gives the final pseudo-label.  Models that agree with the consensus on an
object steer that object's label; a model that drifts off loses its say.

Frame 0 is the given annotation.  On-disk format: ``pseudo/<video>/<frame>.png``
(palette PNGs like the masks) and ``weights/<video>.csv`` (model, object,
iou, weight).  Every pass streams the frames, so memory does not grow with the
length of the video.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .annotation import read_annotation
from .errors import MissingInputError
from .files import atomic_dir
from .fusion import fused_lookup
from .masks import read_label_map, write_label_map
from .settings import PseudoLabelSettings

__all__ = ["box_prior", "pseudo_label_frame", "build_pseudo_labels", "redundancy_weights"]

WEIGHTINGS = ("adaptive", "uniform")


def _box_slices(box: Sequence[float], height: int, width: int, grow: str) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    if grow == "out":  # the smallest pixel box containing the (fractional) box
        xs, ys, xe, ye = np.floor(x0), np.floor(y0), np.ceil(x1), np.ceil(y1)
    else:  # pixels whose centre lies inside
        xs, ys, xe, ye = np.round(x0), np.round(y0), np.round(x1), np.round(y1)
    return slice(int(max(0, ys)), int(min(height, ye))), slice(int(max(0, xs)), int(min(width, xe)))


def box_prior(avg_box, max_box, shape: tuple[int, int], ring_weight: float) -> np.ndarray:
    """``G_k``: 1 inside the average box, ``ring_weight`` in the rest of the max box, 0 elsewhere."""
    prior = np.zeros(shape, np.float32)
    if max_box is None:
        return prior
    prior[_box_slices(max_box, *shape, grow="out")] = ring_weight
    prior[_box_slices(avg_box, *shape, grow="round")] = 1.0
    return prior


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
    votes = np.zeros((len(objects), *shape), np.float32)
    for m, labels in enumerate(label_maps):
        for k, obj in enumerate(objects):
            if weights[m, k] > 0:
                votes[k] += weights[m, k] * (labels == obj)
    totals = weights.sum(axis=0).astype(np.float32) if len(label_maps) else np.zeros(len(objects), np.float32)
    if len(foreground):
        mass = votes.sum(axis=0)
        share = np.divide(votes, mass, out=np.zeros_like(votes), where=mass > 0)
        for fg, w in zip(foreground, foreground_weights):
            votes += np.float32(w) * share * fg[None]
            totals = totals + np.float32(w)
    votes /= np.where(totals > 0, totals, 1)[:, None, None]
    if boxes is not None and config.use_boxes:
        for k, obj in enumerate(objects):
            fused = boxes.get(obj)
            if fused is None:
                votes[k] = 0
            else:
                votes[k] *= box_prior(fused[0], fused[1], shape, config.ring_weight)
    best = votes.argmax(axis=0)
    score = np.take_along_axis(votes, best[None], axis=0)[0]
    ids = np.asarray(objects, dtype=np.uint8)
    return np.where(score >= config.threshold - 1e-6, ids[best], 0).astype(np.uint8)


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
        for k, obj in enumerate(objects):
            masks = [labels == obj for labels in maps]
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

    def frames_of(weights: np.ndarray, fg_weights: np.ndarray) -> Iterator[tuple[str, list[np.ndarray], list[np.ndarray], np.ndarray]]:
        for frame in frames[1:]:
            maps = [read_label_map(folders[m] / f"{frame}.png", allow_greyscale=True) for m in object_models]
            fgs = [read_label_map(folders[m] / f"{frame}.png", allow_greyscale=True) > 0 for m in fg_models]
            frame_boxes = None if boxes is None else boxes.get(frame, {})
            label = given.paste(frame, pseudo_label_frame(maps, weights, objects, frame_boxes, config, fgs, fg_weights))
            yield frame, maps, fgs, label

    weights = np.ones((len(object_models), len(objects)))
    fg_weights = np.ones(len(fg_models))
    redundancy = np.ones_like(weights)
    if config.redundancy_power > 0 and len(object_models) > 1:
        streamed = ([read_label_map(folders[m] / f"{f}.png", allow_greyscale=True) for m in object_models] for f in frames[1:])
        redundancy = redundancy_weights(streamed, objects, config.redundancy_power)
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
