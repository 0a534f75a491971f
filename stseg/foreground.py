"""Foreground-only masks (TMO) split into the annotation's objects.

An unsupervised model such as TMO says *where* the foreground is, not *which*
annotated object a pixel belongs to.  To be scored and selected like every
other model, its foreground ``F`` is turned into a label map after the other
models have run:

* **one object**: every foreground pixel is that object;
* **several objects**: a foreground pixel ``p`` goes to the object ``k`` with the
  largest ``V_k(p) + G_k(p) / (n + 1)``, where ``V_k(p)`` is the share of the
  ``n`` object-level voting models (``pgmr.models``) that label ``p`` as ``k``
  and ``G_k`` is the box prior of the fused boxes (1 inside the average-fused
  box, ``ring_weight`` inside the max-fused one, 0 outside or when the object
  is not kept in that frame).  The box term is worth less than one model's vote,
  so the models' votes decide and the fused boxes break ties and cover the
  foreground pixels no model labels.  A foreground pixel with no vote and
  outside every fused box becomes background: TMO finds every salient object,
  not only the annotated ones.  Equal scores go to the lower id.

Frame 0 is the annotation.  In the pseudo-labels the raw foreground votes
"some object" against background (:mod:`stseg.pseudolabel`).

On-disk: ``foreground/<model>/<video>/<frame>.png`` (the driver's output,
1 = foreground) -> ``masks/<model>/<video>/<frame>.png`` (label maps like
every model's).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .annotation import read_annotation
from .errors import MissingInputError
from .files import atomic_dir
from .fusion import fused_lookup
from .masks import read_label_map, write_label_map
from .pseudolabel import box_prior

__all__ = ["split_frame", "split_foreground"]


def split_frame(
    foreground: np.ndarray,
    label_maps: Sequence[np.ndarray],
    objects: Sequence[int],
    boxes: Mapping[int, tuple | None] | None,
    ring_weight: float,
) -> np.ndarray:
    """One frame's foreground (boolean) as a label map of ``objects`` (see the module docstring)."""
    foreground = np.asarray(foreground, bool)
    ids = np.asarray(objects, dtype=np.uint8)
    if len(objects) == 1:
        return np.where(foreground, ids[0], 0).astype(np.uint8)
    scores = np.zeros((len(objects), *foreground.shape), np.float32)
    for labels in label_maps:
        for k, obj in enumerate(objects):
            scores[k] += labels == obj
    if label_maps:
        scores /= len(label_maps)
    if boxes is not None:
        for k, obj in enumerate(objects):
            fused = boxes.get(obj)
            if fused is not None:
                scores[k] += box_prior(fused[0], fused[1], foreground.shape, ring_weight) / (len(label_maps) + 1)
    best = scores.argmax(axis=0)
    supported = np.take_along_axis(scores, best[None], axis=0)[0] > 0
    return np.where(foreground & supported, ids[best], 0).astype(np.uint8)


def split_foreground(
    foreground_dir: str | os.PathLike[str],
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    annotation: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    fused: pd.DataFrame | None,
    out_dir: str | os.PathLike[str],
    ring_weight: float,
) -> int:
    """Write the label maps of one video's foreground masks; return the number of frames."""
    foreground_dir = Path(foreground_dir)
    given = read_annotation(annotation)
    labels0, palette = given.labels, given.palette
    objects = list(given.objects)
    frames = sorted((p.stem for p in foreground_dir.glob("*.png") if not p.name.startswith(".")), key=int)
    if not frames:
        raise MissingInputError(f"{foreground_dir}: no foreground masks; the foreground-only model's job wrote none.")
    boxes = fused_lookup(fused) if fused is not None else None
    with atomic_dir(out_dir) as tmp:
        write_label_map(tmp / f"{frames[0]}.png", labels0, palette)
        for frame in frames[1:]:
            fg = read_label_map(foreground_dir / f"{frame}.png", allow_greyscale=True) > 0
            maps = [read_label_map(Path(d) / f"{frame}.png", allow_greyscale=True) for d in mask_dirs.values()]
            frame_boxes = None if boxes is None else boxes.get(frame, {})
            labels = given.paste(frame, split_frame(fg, maps, objects, frame_boxes, ring_weight))
            write_label_map(tmp / f"{frame}.png", labels, palette)
    return len(frames)
