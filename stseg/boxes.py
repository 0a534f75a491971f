"""Masks to per-object, per-frame bounding boxes (the first PGMR stage).

On-disk format (``boxes/<video>.csv``, written by the per-video ``fuse`` job
for every voting model), one row per (model, frame, object) for every frame and
every object of the first-frame annotation:

==========  ===============================================================
model       the model's name (only in the per-video table)
frame       frame name (e.g. ``00012``)
object      object id
x0, y0      top-left pixel of the box (inclusive)
x1, y1      bottom-right corner, exclusive (``x1 = x0 + width``), COCO's box
area        number of pixels of the object
present     1 if the object has at least one pixel, else 0 (box left empty)
==========  ===============================================================

An absent object is recorded as absent (``present = 0``, empty coordinates),
never as a zero-size box.  Boxes and areas come from pycocotools' RLE
``encode`` / ``toBbox`` / ``area``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

from .files import read_ahead
from .masks import read_label_map

__all__ = ["BOX_COLUMNS", "label_map_boxes", "video_boxes"]

BOX_COLUMNS = ["frame", "object", "x0", "y0", "x1", "y1", "area", "present"]


def label_map_boxes(labels: np.ndarray, objects: Sequence[int]) -> list[tuple[int, float, float, float, float, int, int]]:
    """``(object, x0, y0, x1, y1, area, present)`` for each object of one label map."""
    if not len(objects):
        return []
    # pycocotools reads (height, width, n) in Fortran order; the masks stacked C-order as (n, height, width) are
    # that array transposed, (width, height, n), without a copy: its RLE is the transposed image's, so its box
    # comes back as (y, x, h, w), and the area is the same
    stack = np.empty((len(objects), *labels.shape), np.uint8)
    for k, obj in enumerate(objects):
        np.equal(labels, obj, out=stack[k].view(bool))
    rles = mask_utils.encode(stack.transpose(2, 1, 0))
    boxes = mask_utils.toBbox(rles)[:, [1, 0, 3, 2]]
    areas = mask_utils.area(rles)
    rows = []
    for obj, (x, y, w, h), area in zip(objects, boxes, areas):
        if area > 0:
            rows.append((int(obj), float(x), float(y), float(x + w), float(y + h), int(area), 1))
        else:
            rows.append((int(obj), np.nan, np.nan, np.nan, np.nan, 0, 0))
    return rows


def video_boxes(mask_dir: str | os.PathLike[str], objects: Sequence[int]) -> pd.DataFrame:
    """The box table of one model's masks for one video (every PNG in ``mask_dir``, in frame order)."""
    mask_dir = Path(mask_dir)
    files = sorted((p for p in mask_dir.glob("*.png") if not p.name.startswith(".")), key=lambda p: int(p.stem))
    rows: list[tuple] = []
    decoded = read_ahead(lambda path: read_label_map(path, allow_greyscale=True), files)  # reader threads decode
    for path, labels in zip(files, decoded):
        rows.extend((path.stem, *row) for row in label_map_boxes(labels, objects))
    table = pd.DataFrame(rows, columns=BOX_COLUMNS)
    return table.astype({"object": int, "area": int, "present": int})
