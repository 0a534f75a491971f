"""What Snakemake cannot see in the user's folders: files rewritten in place inside them.

Snakemake judges an input folder by the folder's own mtime, which does not move
when a file inside is rewritten in place: a corrected frame or an edited
``precomputed`` mask would leave "Nothing to be done".  :func:`folder_stamp`
digests every file's relative path, size and mtime at any depth (a walk with a
``stat`` per file, no reading) of a folder the user owns (a video's
``JPEGImages/<video>``, a ``precomputed`` model's ``<path>/<video>`` with its
``probs/``); :func:`file_stamp` is one file's line.  The jobs that read them take
the stamps among what they depend on (their stamp file, :mod:`stseg.stamps`), so
an edit reruns them.  A file rewritten with the same bytes also reruns them (its
mtime moved); the dataset itself is never written to.  What a user changes in
the workflow's own outputs is :mod:`stseg.stamps`' concern.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timezone
from typing import Iterable

from .errors import StsegError

__all__ = ["ClockSkewError", "check_clock", "file_stamp", "folder_stamp"]


class ClockSkewError(StsegError, ValueError):
    """Inputs dated in the future."""


def folder_stamp(folder: str | os.PathLike[str]) -> str:
    """A digest of the relative paths, sizes and mtimes of the files in ``folder`` and its sub-folders at any depth
    (a ``precomputed`` model's ``probs/``), ``absent`` when there is none.

    Hidden files and folders are left out (``.snakemake_timestamp``, partials of a writer).
    """
    if not os.path.isdir(folder):
        return "absent"
    digest = hashlib.sha256()
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        relative = os.path.relpath(top, folder)
        for name in sorted(f for f in files if not f.startswith(".")):
            try:
                stat = os.stat(os.path.join(top, name))
            except FileNotFoundError:
                continue
            digest.update(f"{os.path.join(relative, name)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def file_stamp(path: str, label: str | None = None) -> str:
    """One file's line in a job's stamp: ``<label>:<size>:<mtime ns>`` (``label``: the path unless given), or
    ``<path>:absent``."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return f"{path}:absent"
    return f"{path if label is None else label}:{stat.st_size}:{stat.st_mtime_ns}"


def check_clock(paths: Iterable[str], folder: str | os.PathLike[str], now: float | None = None) -> None:
    """Refuse inputs dated in the future (a machine with a wrong clock wrote them, or an archive kept its dates).

    Snakemake fails every job whose output ends up older than one of its inputs ("clock skew"), after the job has
    run: every video would fail, each job at its end.  One line names the newest such input, how far ahead of this
    machine's clock it is and how many others are, and the fix (re-dating ``folder``'s files).  A second of slack: a file written as the run
    started is not ahead.
    """
    now = time.time() if now is None else now
    ahead = []
    for path in paths:
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        if mtime > now + 1.0:
            ahead.append((mtime, path))
    if not ahead:
        return
    mtime, path = max(ahead)
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    stamp = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # noqa: E731
    hours = (mtime - now) / 3600
    others = f" (and {len(ahead) - 1} other input(s))" if len(ahead) > 1 else ""
    raise ClockSkewError(
        f"{path} is dated {stamp(mtime)}, {hours:.1f} h ahead of this machine's clock ({stamp(now)}){others}: "
        "Snakemake would fail every job reading it at its end (its outputs older than their input: 'clock skew'). "
        f"Set this machine's clock right, or re-date the files: find {folder} -newermt now "
        "-exec touch -h {} +")
