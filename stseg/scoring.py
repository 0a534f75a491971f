"""Scoring every model of one video against the pseudo-labels and, where it exists, the ground truth.

On-disk format (``scores/<video>.csv``), one row per (reference, model, object):
``video, reference`` (``pseudo`` or ``gt``), ``model, object, frames`` (scored
frames: all but the first and last), ``J, F, JF`` (means over those frames),
``J_recall, F_recall, J_decay, F_decay``, all at full float precision, computed
with :mod:`stseg.metrics` (the official DAVIS definitions).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from .metrics import score_video

__all__ = ["SCORE_COLUMNS", "score_models"]

SCORE_COLUMNS = ["video", "reference", "model", "object", "frames", "J", "F", "JF", "J_recall", "F_recall", "J_decay", "F_decay"]


def score_models(
    video: str,
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    pseudo_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str] | None = None,
    variant: str = "davis",
    objects: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """J&F of every model against the pseudo-labels (and the ground truth when ``gt_dir`` is given)."""
    references = {"pseudo": Path(pseudo_dir)}
    if gt_dir is not None:
        references["gt"] = Path(gt_dir)
    rows = []
    for reference, ref_dir in references.items():
        for model, mask_dir in mask_dirs.items():
            result = score_video(ref_dir, mask_dir, video, variant, objects)
            rows.extend({"reference": reference, "model": model, **row} for row in result.rows())
    return pd.DataFrame(rows)[SCORE_COLUMNS]
