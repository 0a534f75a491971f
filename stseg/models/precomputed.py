"""``precomputed``: a model's masks made elsewhere, brought as a results folder.

``options.path`` is a folder of ``<video>/<frame>.png`` in the DAVIS layout (the
output of Cutie's or SAM2's own evaluation script, a published results set).
The job reads the video's PNGs and writes them as this model's masks, so every
later stage treats the folder as a model.  Each PNG is validated as a model's
output must be: one per frame after the first (frame 0 is the annotation, as for
every model), the frame size, a palette ('P') or greyscale ('L') PNG of object
ids, and only ids of the first-frame annotation; a problem is an error naming the
file and the fix.  Confidences are read from ``scores.csv`` beside the PNGs when
the folder has one (``frame, object, score``, as stseg writes them), and per-pixel
probabilities from ``probs/<frame>.npz`` when it has them (:mod:`stseg.probabilities`:
only the annotation's objects, at the frame's size).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..masks import MaskFormatError, object_ids, read_label_map
from ..probabilities import PROBS_DIR, read_probabilities
from .base import OptionError, Propagator

__all__ = ["PrecomputedMasks", "PrecomputedError"]


class PrecomputedError(MaskFormatError):
    """A precomputed results folder that does not hold a valid answer for the video."""


class PrecomputedMasks(Propagator):
    defaults = {"path": None}

    def folder(self, video: str) -> Path:
        if not self.options["path"]:
            raise OptionError("precomputed: set options.path to a folder of <video>/<frame>.png")
        return Path(self.options["path"]).expanduser() / video

    def segment_video(self, files: Sequence[Path], labels: np.ndarray,
                      later: Mapping[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        files = [Path(f) for f in files]
        folder = self.folder(files[0].parent.name)
        if not folder.is_dir():
            raise PrecomputedError(
                f"{folder}: no precomputed masks for video {files[0].parent.name!r}. The folder given as "
                "options.path needs <video>/<frame>.png for every video of the dataset."
            )
        missing = [f"{p.stem}.png" for p in files[1:] if not (folder / f"{p.stem}.png").is_file()]
        if missing:
            raise PrecomputedError(
                f"{folder}: precomputed masks missing for {len(missing)} frame(s) ({', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''}). Every frame needs a PNG named like its JPEG."
            )
        self.objects = tuple(sorted({*object_ids(labels), *(o for given in (later or {}).values() for o in object_ids(given))}))
        allowed = np.zeros(256, dtype=bool)
        allowed[[0, *self.objects]] = True
        confidences = self._confidences(folder)
        for path in files[1:]:
            png = folder / f"{path.stem}.png"
            mask = read_label_map(png, allow_greyscale=True)
            if mask.shape != labels.shape:
                raise PrecomputedError(
                    f"{png}: mask is {mask.shape[1]}x{mask.shape[0]} but the video's frames are "
                    f"{labels.shape[1]}x{labels.shape[0]}. Precomputed masks must have the frames' size."
                )
            unknown = [int(i) for i in np.flatnonzero(np.bincount(mask.ravel(), minlength=256)) if not allowed[i]]
            if unknown:
                raise PrecomputedError(
                    f"{png}: object id(s) {unknown} are not in the video's annotation (objects "
                    f"{list(self.objects)}). The masks must use the annotation's ids."
                )
            self.scores = confidences.get(path.stem, {})
            self.probabilities = None
            probs = folder / PROBS_DIR / f"{path.stem}.npz"
            if probs.is_file():
                self.probabilities = read_probabilities(probs, labels.shape)
                strange = sorted(set(self.probabilities) - set(self.objects))
                if strange:
                    raise PrecomputedError(f"{probs}: probabilities of object id(s) {strange}, which are not in the "
                                           f"video's annotation (objects {list(self.objects)}).")
            yield mask

    @staticmethod
    def _confidences(folder: Path) -> dict[str, dict[int, float]]:
        table = folder / "scores.csv"
        out: dict[str, dict[int, float]] = {}
        if table.is_file():
            with open(table, newline="") as handle:
                for line, row in enumerate(csv.DictReader(handle), start=2):
                    try:
                        score = float(row["score"])
                        out.setdefault(row["frame"], {})[int(row["object"])] = score
                    except (KeyError, TypeError, ValueError):
                        raise PrecomputedError(
                            f"{table}, line {line}: {dict(row)} is not a row of frame, object (an integer id) and "
                            "score (a number). Fix the file, or remove it: the masks alone are enough."
                        ) from None
        return out
