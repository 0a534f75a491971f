"""Palette PNG label maps: reading, writing (atomically) and the DAVIS palette.

A *label map* is a ``uint8`` array of shape ``(H, W)`` whose pixel value is the
object id (0 = background), stored on disk as an indexed ('P' mode) PNG, as in
DAVIS and MOSE.  Every file stseg writes goes through :func:`stseg.files.atomic_path`: the
content is written under a temporary name in the destination folder and then
renamed with :func:`os.replace`, so a killed job never leaves a file that looks
finished.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import StsegError
from .files import atomic_path

__all__ = [
    "MaskFormatError",
    "VOID",
    "davis_palette",
    "object_ids",
    "read_label_map",
    "read_palette",
    "write_label_map",
]


#: DAVIS marks "don't care" pixels with 255; like background, it is never an object
VOID = 255


def object_ids(labels: np.ndarray) -> tuple[int, ...]:
    """The object ids present in a label map, sorted (0 = background and 255 = void excluded)."""
    return tuple(int(i) for i in np.unique(labels) if i not in (0, VOID))


class MaskFormatError(StsegError, ValueError):
    """A label map file that stseg cannot use, with the reason and the fix."""


def davis_palette() -> list[int]:
    """The DAVIS / PASCAL VOC colour map as a flat list of 768 ints (256 RGB triples)."""
    palette: list[int] = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(8):
            r |= ((c >> 0) & 1) << (7 - shift)
            g |= ((c >> 1) & 1) << (7 - shift)
            b |= ((c >> 2) & 1) << (7 - shift)
            c >>= 3
        palette.extend((r, g, b))
    return palette


def read_label_map(path: str | os.PathLike[str], *, allow_greyscale: bool = False) -> np.ndarray:
    """Read an indexed PNG and return its object ids as a ``uint8`` ``(H, W)`` array.

    Ground-truth annotations must be palette ('P') PNGs.  Predictions may also be
    8-bit greyscale ('L') PNGs holding object ids when ``allow_greyscale`` is set,
    as the MOSE server accepts them.  Anything else raises :class:`MaskFormatError`
    naming the file and what to do.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode == "P" or (allow_greyscale and mode == "L"):
                return np.array(image, dtype=np.uint8)  # a writable copy
            array = np.asarray(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # OSError: truncated or corrupt; ValueError: a text chunk that inflates beyond PIL's limit; a bomb: a
        # header that claims more pixels than PIL decodes
        raise MaskFormatError(
            f"{path}: cannot decode this PNG ({error}). The file is corrupt, truncated or not a plain annotation: "
            "re-export or re-download it."
        ) from error
    if mode in ("L", "1") and set(np.unique(array).tolist()) <= {0, 1, 255}:
        raise MaskFormatError(
            f"{path}: this is a greyscale ({mode}) 0/255 mask, not an indexed palette PNG. "
            "Annotations must be palette ('P') PNGs whose pixel value is the object id "
            "(0 = background, 1..N = objects); convert it, for example with "
            "PIL: Image.fromarray((mask > 0).astype('uint8'), 'P') with a palette set."
        )
    raise MaskFormatError(
        f"{path}: PNG mode is {mode!r}, but annotations must be palette ('P') PNGs whose pixel "
        "value is the object id (0 = background). An RGB colour mask has to be mapped to ids "
        "first (one id per colour) and saved as mode 'P'."
    )


def read_palette(path: str | os.PathLike[str]) -> list[int]:
    """The palette of a 'P' PNG as 768 ints; the DAVIS palette when it has none."""
    with Image.open(path) as image:
        palette = image.getpalette() if image.mode == "P" else None
    if not palette:
        return davis_palette()
    palette = list(palette)[:768]
    return palette + [0] * (768 - len(palette))


def write_label_map(path: str | os.PathLike[str], labels: np.ndarray, palette: list[int] | None = None) -> None:
    """Write ``labels`` (``uint8`` object ids) as a palette PNG, atomically.

    ``palette`` defaults to the DAVIS palette.  The bytes depend only on the
    array and the palette (no timestamps), so reruns give identical files.
    """
    if labels.ndim != 2:
        raise ValueError(f"label map must be 2-D (H, W), got shape {labels.shape}")
    if labels.dtype != np.uint8:
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError("object ids must lie in 0..255 to fit an indexed PNG")
        labels = labels.astype(np.uint8)
    height, width = labels.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(labels).tobytes())
    image.putpalette(palette if palette is not None else davis_palette())
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
