"""Average fusion and max fusion of the models' boxes (the second PGMR stage).

For every (frame, object), the models that take part and see the object vote:

* **average-fused box**: the weighted mean of their box coordinates.  With
  ``weighting="agreement"`` (default) a model's weight is the mean IoU of its box
  with the other voters' boxes, so an outlier box pulls the average little; with
  ``"uniform"`` every voter counts the same.  When no two voters' boxes overlap at
  all the weights fall back to uniform.
* **max-fused box**: the box enclosing every voter's box.
* the object is **kept** in that frame when at least ``min_votes`` models see it.

On-disk format (``fused/<video>.csv``), one row per (frame, object):
``frame, object, votes, voters, kept, agreement, avg_x0, avg_y0, avg_x1,
avg_y1, max_x0, max_y0, max_x1, max_y1`` where ``voters`` is the number of
models taking part, ``agreement`` the mean pairwise IoU of the voters' boxes
(1 for a single voter) and the boxes are empty when no model sees the object.
Box coordinates follow :mod:`stseg.boxes` (x1, y1 exclusive).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

__all__ = ["FUSED_COLUMNS", "WEIGHTINGS", "FusedBoxes", "box_iou", "fuse_frame", "fuse_boxes", "fused_lookup"]

WEIGHTINGS = ("agreement", "uniform")
FUSED_COLUMNS = [
    "frame", "object", "votes", "voters", "kept", "agreement",
    "avg_x0", "avg_y0", "avg_x1", "avg_y1", "max_x0", "max_y0", "max_x1", "max_y1",
]


def box_iou(boxes: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(n, 4)`` boxes ``x0, y0, x1, y1`` (x1, y1 exclusive)."""
    x0 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y0 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x1 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y1 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def fuse_frame(boxes: np.ndarray, weighting: str = "agreement") -> tuple[np.ndarray, np.ndarray, float]:
    """Fuse the ``(n >= 1, 4)`` boxes of the voters: (average box, max box, agreement)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown fusion weighting {weighting!r}; choose one of {WEIGHTINGS}")
    n = len(boxes)
    enclosing = np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])
    if n == 1:
        return boxes[0].astype(float), enclosing, 1.0
    iou = box_iou(boxes)
    off_diagonal = (iou.sum(axis=1) - np.diag(iou)) / (n - 1)
    agreement = float(off_diagonal.mean())
    weights = off_diagonal if weighting == "agreement" and off_diagonal.sum() > 0 else np.ones(n)
    average = (boxes * weights[:, None]).sum(axis=0) / weights.sum()
    return average, enclosing, agreement


def fuse_boxes(
    tables: Mapping[str, pd.DataFrame],
    min_votes: int = 1,
    weighting: str = "agreement",
) -> pd.DataFrame:
    """Fuse the box tables of several models (model name -> :mod:`stseg.boxes` table)."""
    if not tables:
        raise ValueError("fusion needs at least one model's boxes")
    voters = len(tables)
    if min_votes > voters:
        raise ValueError(f"min_votes={min_votes} is more than the {voters} model(s) taking part")
    stacked = pd.concat([t.assign(model=name) for name, t in tables.items()], ignore_index=True)
    frames = list(dict.fromkeys(next(iter(tables.values()))["frame"]))
    rows = []
    coords = ["x0", "y0", "x1", "y1"]
    for (frame, obj), group in stacked.groupby(["frame", "object"], sort=False):
        present = group[group["present"] == 1]
        votes = len(present)
        if votes:
            avg, enclosing, agreement = fuse_frame(present[coords].to_numpy(dtype=float), weighting)
        else:
            avg = enclosing = np.full(4, np.nan)
            agreement = np.nan
        rows.append((frame, int(obj), votes, voters, int(votes >= min_votes and votes > 0), agreement, *avg, *enclosing))
    fused = pd.DataFrame(rows, columns=FUSED_COLUMNS)
    order = {f: i for i, f in enumerate(frames)}
    fused = fused.sort_values(["frame", "object"], key=lambda c: c.map(order) if c.name == "frame" else c)
    return fused.reset_index(drop=True)


#: one (frame, object)'s fused boxes: (average box, max box), each ``(x0, y0, x1, y1)``; None when not kept
FusedBoxes = tuple[tuple[float, float, float, float], tuple[float, float, float, float]]


def fused_lookup(fused: pd.DataFrame) -> dict[str, dict[int, FusedBoxes | None]]:
    """A fusion table (``fused/<video>.csv``) as frame -> object -> :data:`FusedBoxes` (None: not kept there)."""
    lookup: dict[str, dict[int, FusedBoxes | None]] = {}
    avg_cols = ["avg_x0", "avg_y0", "avg_x1", "avg_y1"]
    max_cols = ["max_x0", "max_y0", "max_x1", "max_y1"]
    for row in fused.itertuples(index=False):
        entry = None
        if row.kept:
            entry = (tuple(getattr(row, c) for c in avg_cols), tuple(getattr(row, c) for c in max_cols))
        lookup.setdefault(str(row.frame), {})[int(row.object)] = entry  # type: ignore[assignment]
    return lookup
