"""The MOSE submission zip: writing it reproducibly and checking it as the server would read it.

Layout: ``<video>/<frame>.png`` at the zip root for every frame of every video
(``00000`` included, frame names kept), indexed PNGs whose pixel value is the
object id, at the original frame size.  Entries are sorted, stored with a fixed
timestamp (1980-01-01) and fixed permissions, so the same masks always give the
same bytes.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from .errors import StsegError
from .files import atomic_path

__all__ = ["SubmissionError", "write_submission", "check_submission"]

FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class SubmissionError(StsegError, ValueError):
    """A submission the MOSE server would reject or mis-score."""


def write_submission(final_root: str | os.PathLike[str], videos: Sequence[str], out: str | os.PathLike[str]) -> int:
    """Zip ``final_root/<video>/*.png`` for ``videos``; return the number of masks written."""
    final_root = Path(final_root)
    count = 0
    with atomic_path(out) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for video in sorted(videos):
                folder = final_root / video
                files = sorted((p for p in folder.glob("*.png") if not p.name.startswith(".")), key=lambda p: int(p.stem))
                if not files:
                    raise SubmissionError(f"{folder}: no final masks for video {video!r}")
                for path in files:
                    info = zipfile.ZipInfo(f"{video}/{path.name}", date_time=FIXED_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    archive.writestr(info, path.read_bytes())
                    count += 1
    return count


def check_submission(
    zip_path: str | os.PathLike[str],
    expected: Mapping[str, tuple[Sequence[str], tuple[int, int], Sequence[int]]],
) -> None:
    """Check a submission as MOSE's scorer reads it.

    ``expected`` maps each video to (frame names, (width, height), object ids).
    Every frame must be present as an indexed ('P') or greyscale ('L') PNG of the
    frame size with no id outside the objects; nothing else may be in the zip.
    """
    problems = []
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        wanted = {f"{v}/{f}.png" for v, (frames, _, _) in expected.items() for f in frames}
        for extra in sorted(names - wanted)[:5]:
            problems.append(f"{zip_path}: unexpected entry {extra}")
        for missing in sorted(wanted - names)[:5]:
            problems.append(f"{zip_path}: missing {missing} (a missing frame shifts the scoring of every later frame)")
        for video, (frames, size, objects) in expected.items():
            allowed = set(objects) | {0}
            for frame in frames:
                name = f"{video}/{frame}.png"
                if name not in names:
                    continue
                with Image.open(io.BytesIO(archive.read(name))) as image:
                    if image.mode not in ("P", "L"):
                        problems.append(f"{name}: mode {image.mode}, the scorer needs indexed or greyscale PNGs")
                        continue
                    if image.size != tuple(size):
                        problems.append(f"{name}: size {image.size}, the video's is {tuple(size)}")
                    ids = set(np.unique(np.asarray(image)).tolist())
                if ids - allowed:
                    problems.append(f"{name}: object ids {sorted(ids - allowed)} not in the annotation {sorted(objects)}")
    if problems:
        raise SubmissionError("\n".join(problems[:20]))
