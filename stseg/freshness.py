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

__all__ = ["file_stamp", "folder_stamp"]


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
