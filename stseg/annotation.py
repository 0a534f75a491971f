"""The annotation a video's jobs are given: the first frame's objects, and those first annotated later.

A semi-supervised video gives each object's mask on the frame where it first
appears: every object on the first frame (DAVIS, MOSE), or some on later frames
(YouTube-VOS, LVOS: sparse PNGs on the frames where new objects appear).  The
workflow passes a job the first frame's PNG followed by each later PNG that
introduces an object (:attr:`stseg.dataset.VideoInfo.appearance_frames`), as
``--annotation FIRST [LATER ...]``.  As SAM2's ``vos_inference.py
--track_object_appearing_later_in_video`` reads them, an object's first mask is
its input: pixels of a later PNG that belong to objects already known are not
used.

Every stage treats a given mask as it treats frame 0: the models' output and the
pseudo-label at that frame carry the object's given mask, and an object is scored
from the frame after its first mask (:attr:`Annotation.starts`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import StsegError
from .masks import VOID, object_ids, read_label_map, read_palette

__all__ = ["Annotation", "AnnotationError", "read_annotation"]


class AnnotationError(StsegError, ValueError):
    """Annotation PNGs that do not fit together (sizes, order); the message names the file."""


@dataclass(frozen=True)
class Annotation:
    #: the first frame's name (stem) and label map
    frame: str
    labels: np.ndarray
    palette: list[int]
    #: later frame (stem) -> label map holding only the objects first annotated there (0 elsewhere)
    later: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def first_objects(self) -> tuple[int, ...]:
        return object_ids(self.labels)

    @property
    def objects(self) -> tuple[int, ...]:
        """Every object of the video: the first frame's and the later ones, sorted."""
        ids = set(self.first_objects)
        for labels in self.later.values():
            ids.update(object_ids(labels))
        return tuple(sorted(ids))

    @property
    def starts(self) -> dict[int, str]:
        """Object id -> the frame of its first mask."""
        starts = {obj: self.frame for obj in self.first_objects}
        for frame, labels in self.later.items():
            for obj in object_ids(labels):
                starts.setdefault(obj, frame)
        return starts

    def later_by_index(self, frames: Sequence[str]) -> dict[int, np.ndarray]:
        """The later masks keyed by their frame's index in ``frames`` (the video's frame names in order)."""
        index = {name: i for i, name in enumerate(frames)}
        missing = [f for f in self.later if f not in index]
        if missing:
            raise AnnotationError(f"annotation(s) for frame(s) {missing} have no frame in the video.")
        return {index[f]: labels for f, labels in self.later.items()}

    def paste(self, frame: str, labels: np.ndarray) -> np.ndarray:
        """``labels`` with the objects first annotated on ``frame`` set to their given masks."""
        given = self.later.get(frame)
        if given is None:
            return labels
        return np.where(given > 0, given, labels).astype(labels.dtype)


def without_void(labels: np.ndarray) -> np.ndarray:
    """The label map with void pixels (255, DAVIS's "don't care") as background: no model is given them as an
    object, and the scoring counts them as background."""
    if (labels == VOID).any():
        labels = np.where(labels == VOID, 0, labels).astype(np.uint8)
    return labels


def read_annotation(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Annotation:
    """Read the first frame's PNG and the later PNGs that introduce objects (in frame order)."""
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not files:
        raise AnnotationError("no annotation given: the first frame's PNG is needed.")
    labels = without_void(read_label_map(files[0]))
    later: dict[str, np.ndarray] = {}
    seen = set(object_ids(labels))
    previous = files[0]
    for path in files[1:]:
        numbered = all(p.stem.isascii() and p.stem.isdigit() for p in (path, previous))  # (not '00001²')
        if not (numbered and int(path.stem) > int(previous.stem)):
            raise AnnotationError(f"{path}: later annotations must follow the first one in frame order "
                                  f"(after {previous.name}).")
        more = without_void(read_label_map(path))
        if more.shape != labels.shape:
            raise AnnotationError(f"{path}: annotation size {more.shape[1]}x{more.shape[0]} differs from "
                                  f"{files[0]} ({labels.shape[1]}x{labels.shape[0]}).")
        new = [obj for obj in object_ids(more) if obj not in seen]
        seen.update(new)
        if new:
            later[path.stem] = np.where(np.isin(more, new), more, 0).astype(np.uint8)
        previous = path
    return Annotation(frame=files[0].stem, labels=labels, palette=read_palette(files[0]), later=later)
