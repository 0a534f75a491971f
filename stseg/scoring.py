"""Scoring every model of one video against the pseudo-labels and, where it exists, the ground truth.

On-disk format (``scores/<video>.csv``), one row per (reference, model, object):
``video, reference`` (``pseudo`` or ``gt``), ``model, object, frames`` (scored
frames: all but the first and last, and for an object first annotated on a later
frame only those after it; against the pseudo-labels with ``pgmr.absent: skip``
only those where the pseudo-label shows the object),
``J, F, JF`` (means over those frames), ``J_recall, F_recall, J_decay,
F_decay``, all at full float precision, computed with :mod:`stseg.metrics` (the
official DAVIS definitions, or MOSE's with ``evaluation.variant: mose``), and
``edge``: the model's edge alignment on the object (:mod:`stseg.signals`; on the
``pseudo`` rows, empty on the ``gt`` rows).

``pgmr.absent``: ``score`` counts every frame against the pseudo-label, so a model
that predicts nothing where the pseudo-label is empty scores J = 1 there;
``skip`` leaves those frames out, so that "absent" is rewarded only by the ground
truth, never by voters that lost the object.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .annotation import Annotation
from .metrics import BoundaryCache, score_video_pairs
from .settings import ScoreSettings
from .signals import EdgeAlignment, frame_gradient

__all__ = ["SCORE_COLUMNS", "score_models"]

SCORE_COLUMNS = ["video", "reference", "model", "object", "frames", "J", "F", "JF", "J_recall", "F_recall",
                 "J_decay", "F_decay", "edge"]


def score_models(
    video: str,
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    pseudo_dir: str | os.PathLike[str],
    settings: ScoreSettings,
    gt_dir: str | os.PathLike[str] | None = None,
    frame_files: Sequence[str | os.PathLike[str]] = (),
    annotation: Annotation | None = None,
) -> pd.DataFrame:
    """J&F of every model against the pseudo-labels (and the ground truth when ``gt_dir`` is given), and
    each model's edge alignment when ``frame_files`` (the video's JPEGs, in order) are given.

    ``annotation``: the objects (the first frame's and those first annotated later), each scored on the frames
    after its first mask, as the YouTube-VOS and MOSE evaluations do; by default the objects of the reference's
    first frame, scored from the second."""
    if settings.absent not in ("score", "skip"):
        raise ValueError(f"pgmr.absent must be 'score' or 'skip', not {settings.absent!r}")
    references = {"pseudo": Path(pseudo_dir)}
    if gt_dir is not None:
        references["gt"] = Path(gt_dir)
    objects = None if annotation is None else annotation.objects
    starts = None if annotation is None else annotation.starts
    jpegs = {Path(f).stem: Path(f) for f in list(frame_files)[1:]}  # frame 0 (the annotation) left out
    counted = len(jpegs)
    done: set[str] = set()
    edges: EdgeAlignment | None = None

    def gradient(frame: str) -> np.ndarray | None:  # in a reader thread, beside the decoding
        return frame_gradient(jpegs[frame]) if frame in jpegs else None

    def on_frame(frame: str, objects: Sequence[int], maps: Mapping[str, np.ndarray], boundaries: BoundaryCache,
                 prepared: np.ndarray | None) -> None:
        nonlocal edges
        if prepared is not None:
            edges = edges or EdgeAlignment(list(mask_dirs), objects, counted)
            edges.add_gradient(prepared, maps, boundaries)
            done.add(frame)  # (jpegs itself is read by the reader threads meanwhile: never changed)

    # every PNG decoded once for all (reference, model) pairs and the edge alignment (stseg.metrics); meanwhile a
    # thread reads the last frame, which J&F does not score but the edge alignment counts
    last = list(jpegs)[-1] if jpegs else None
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = None if last is None else pool.submit(EdgeAlignment.read, jpegs[last], mask_dirs)
        results = score_video_pairs(references, mask_dirs, video, settings.variant, objects, starts=starts,
                                    on_frame=on_frame, prepare=gradient)
    found = next(iter(results.values())).objects
    rows: list[dict] = []
    for (reference, model), result in results.items():
        skip = reference == "pseudo" and settings.absent == "skip"
        rows.extend({"reference": reference, "model": model, **row} for row in result.rows(skip_absent=skip))
    table = pd.DataFrame(rows)
    table["edge"] = np.nan
    if frame_files:
        edges = edges or EdgeAlignment(list(mask_dirs), found, counted)
        for frame in (f for f in jpegs if f not in done):  # the frames J&F does not score (the last)
            read = ahead.result() if ahead is not None and frame == last else EdgeAlignment.read(jpegs[frame], mask_dirs)
            edges.add_gradient(*read)
        values = edges.result()
        index = {obj: k for k, obj in enumerate(found)}
        pseudo = table["reference"] == "pseudo"
        table.loc[pseudo, "edge"] = [float(values[m][index[o]]) for m, o in zip(table.loc[pseudo, "model"], table.loc[pseudo, "object"])]
    return table[SCORE_COLUMNS]
