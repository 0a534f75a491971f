"""A model's per-pixel object probabilities, kept beside its masks (optional).

On-disk format: ``masks/<model>/<video>/probs/<frame>.npz`` (NumPy's compressed
archive) with two arrays: ``objects`` (``uint8``, the object ids, ``K``) and
``p`` (``uint8``, ``K × H × W``): the model's probability of each object at each
pixel times 255, rounded to the nearest integer (``round(255 · P)``, a step of
1/255).  Frame 0 (the annotation) has none.  Models that compute probabilities
write them when the model's entry in the config has ``probabilities: true``
(:mod:`stseg.inference`); a ``precomputed`` model copies ``<path>/<video>/probs/``
when it is there.  The fusion (:mod:`stseg.mask_fusion`) uses them in place of
the 0/1 masks.

Most pixels are 0 or 255, which compresses well: see docs/models.md ("Confidences")
for the disk it takes at MOSE scale.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import StsegError

__all__ = ["ProbabilityError", "quantize", "read_probabilities", "write_probabilities", "PROBS_DIR"]

#: the folder of probabilities inside a model's per-video mask folder
PROBS_DIR = "probs"


class ProbabilityError(StsegError, ValueError):
    """A probability file that cannot be read as documented; the message names it."""


def quantize(probabilities: np.ndarray) -> np.ndarray:
    """``round(255 · P)`` as ``uint8`` (values outside [0, 1] are clipped)."""
    return np.rint(np.clip(np.asarray(probabilities, np.float32), 0.0, 1.0) * np.float32(255)).astype(np.uint8)


def write_probabilities(path: str | os.PathLike[str], probabilities: Mapping[int, np.ndarray]) -> None:
    """Write one frame's probabilities (object id -> ``H × W`` map in [0, 1])."""
    objects = sorted(probabilities)
    stack = np.stack([quantize(probabilities[o]) for o in objects]) if objects else np.zeros((0, 0, 0), np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, objects=np.asarray(objects, np.uint8), p=stack)
    Path(path).write_bytes(buffer.getvalue())


def read_probabilities(path: str | os.PathLike[str], shape: tuple[int, int] | None = None) -> dict[int, np.ndarray]:
    """One frame's probabilities as object id -> ``float32`` map in [0, 1]; ``shape``: the frame's, checked."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            objects, stack = archive["objects"], archive["p"]
    except (OSError, ValueError, KeyError) as error:
        raise ProbabilityError(f"{path}: not a probability file ({error}); it needs the arrays 'objects' (uint8, K) "
                               "and 'p' (uint8, K x H x W). Re-create it or remove it.") from None
    if stack.dtype != np.uint8 or stack.ndim != 3 or len(objects) != len(stack):
        raise ProbabilityError(f"{path}: 'p' must be uint8 of shape (K, H, W) with K = len(objects); got {stack.dtype} "
                               f"{stack.shape} for {len(objects)} object(s). Re-create it or remove it.")
    if shape is not None and len(stack) and stack.shape[1:] != tuple(shape):
        raise ProbabilityError(f"{path}: probabilities of size {stack.shape[2]}x{stack.shape[1]}, the frame is "
                               f"{shape[1]}x{shape[0]}. Re-create it at the frame's size or remove it.")
    return {int(o): stack[i].astype(np.float32) / np.float32(255) for i, o in enumerate(objects)}
