"""Rerun decisions kept with the results: each job reads a stamp, a file named by what the job depends on.

Snakemake decides by files: a job runs when an output is missing or older than
an input.  What a job depends on besides its input files (its settings, the
model's options, the stamps of the frames and annotations it reads, the folders
a user edited) is not a file, and Snakemake's own parameter records live in
``.snakemake/`` of the directory it starts in: from another directory, or with
``results:`` spelled another way, a changed setting would go unseen.  So every
job of the workflow reads one more input, its **stamp**::

    <results>/.stseg/stamps/<rule>/<key>/<steady>[.<volatile>]

``key`` is a digest of the job's wildcards; ``steady`` a digest of what the job
depends on (its parameters); ``volatile``, when there is any, a digest of what a
user did to the workflow's own outputs since their jobs made them: a folder the
job reads edited in place (a mask rewritten, a frame deleted), or a folder the
job makes that lost a frame.  When any of it changes the stamp's path is new:
its file is written (:func:`write_stamp`) when the run's jobs are worked out,
newer than the job's outputs, so the job reruns, Snakemake removing its outputs
as for any rerun, and every job downstream reruns with it.  A stamp that exists
is never rewritten: the decision it records was made.

* The decision lives in the results folder: the same from any working directory,
  however ``results:`` is spelled.
* Stamps are written by the main Snakemake process of a run, which holds the
  results lock (:mod:`stseg.lifecycle`); a cluster job's parse only reads them.
  A dry run writes nothing in the results folder: a stamp it would write goes to
  a temporary folder that is removed when it ends, so it lists exactly the jobs
  a run would do.
* Writing a steady stamp removes the key's other stamps, so that returning to an
  earlier setting reruns the job again.  Writing a volatile stamp keeps its steady
  one: once the job has rerun and its inputs are as their jobs made them (or its
  output is complete again), the steady stamp, older than the job's outputs, is
  the input again and nothing reruns twice.

A stamp holds what it was made from (JSON), for a person reading it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .files import atomic_path

__all__ = ["FOLDER", "TIMESTAMP", "Stamps", "canonical_paths", "digest", "folder_state", "write_stamp"]

#: where the stamps live, under the results folder
FOLDER = Path(".stseg") / "stamps"
#: Snakemake's own mtime carrier inside a folder output (the time its job finished)
TIMESTAMP = ".snakemake_timestamp"


def digest(value: Any) -> str:
    """A short digest of a JSON-able value (its canonical JSON)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def canonical_paths(value: Any, places: Mapping[str, str]) -> Any:
    """``value`` (strings, lists, dicts) with each path under one of ``places`` (its spelling -> a name such as
    ``<results>``) written from that name: a path, ``NAME=path``, and an absolute spelling anywhere in a string (a
    JSON argument).  A job's stamp is then the same however the results folder or the dataset is spelled (relative,
    absolute, through ``..``).  Longer spellings are tried first."""
    ordered = sorted(places.items(), key=lambda item: -len(item[0]))
    if isinstance(value, str):
        name, sep, rest = value.partition("=")
        if sep and "/" not in name and rest:
            return f"{name}={canonical_paths(rest, places)}"
        for spelled, token in ordered:
            root = spelled.rstrip(os.sep)
            if value == spelled or value.startswith(root + os.sep):
                return token + value[len(root):]
        for spelled, token in ordered:
            if os.path.isabs(spelled):
                value = value.replace(spelled.rstrip(os.sep) + os.sep, token + os.sep)
        return value
    if isinstance(value, (list, tuple)):
        return [canonical_paths(v, places) for v in value]
    if isinstance(value, dict):
        return {k: canonical_paths(v, places) for k, v in value.items()}
    return value


def folder_state(folder: str | os.PathLike[str], frames: Sequence[str] | None = None,
                 made: str | os.PathLike[str] | None = None) -> str | None:
    """How a folder the workflow made stands, read-only: ``None`` when it is as its job left it (or not made yet);
    ``"missing ..."`` when ``frames`` are given and one's PNG is gone; ``"edited <ns>"`` when a file in it (or the
    folder itself: a file added, renamed or deleted) changed after ``made`` (default: the folder's
    ``.snakemake_timestamp``, the time its job finished; a chunk job's record in the chunked layout)."""
    folder = Path(folder)
    try:
        entries = list(os.scandir(folder))
        newest = folder.stat().st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return None
    names = {entry.name for entry in entries}
    if frames is not None:
        missing = [f for f in frames if f"{f}.png" not in names]
        if missing:
            return f"missing {digest(missing)}"
    reference = Path(made) if made is not None else folder / TIMESTAMP
    try:
        finished = reference.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    for entry in entries:
        if entry.name != TIMESTAMP:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
    return f"edited {newest}" if newest > finished else None


class Stamps:
    """The stamps of one results folder (module docstring).  ``mode``: ``"write"`` (the main process of a run: a stamp
    that does not exist is written, after ``before_writing()``, once), ``"dry"`` (a dry run: it is written to a
    temporary folder instead) or ``"read"`` (a cluster job's parse: paths only)."""

    MODES = ("write", "dry", "read")

    def __init__(self, results: str | os.PathLike[str], mode: str = "read",
                 before_writing: Callable[[], Any] | None = None) -> None:
        if mode not in self.MODES:
            raise ValueError(f"stamp mode {mode!r} is not one of {self.MODES}")
        self.folder = Path(results) / FOLDER
        self.mode = mode
        self._before_writing = before_writing
        self._dry: Path | None = None

    def path(self, rule: str, wildcards: Mapping[str, Any], steady: Any, volatile: Iterable[Any] = ()) -> str:
        """The stamp of one job (module docstring), written if it does not exist: ``steady``, what it depends on;
        ``volatile``, the states of the workflow outputs it reads or makes that a user changed (``None`` items: as
        their jobs left them)."""
        changes = [v for v in volatile if v is not None]
        wildcards = {k: str(v) for k, v in sorted(dict(wildcards).items())}
        name = digest(steady) + (f".{digest(changes)}" if changes else "")
        path = self.folder / rule / digest(wildcards) / name
        if self.mode == "read" or path.is_file():
            return str(path)
        def content(made_changes: list[Any]) -> str:
            return json.dumps({"rule": rule, "wildcards": wildcards, "depends on": steady,
                               "changed since made": made_changes}, indent=1, default=str)

        if self.mode == "dry":
            path = self._dry_folder() / path.relative_to(self.folder)
        elif self._before_writing is not None:
            self._before_writing()
            self._before_writing = None
        base = path.with_name(name.split(".", 1)[0])
        if changes and not base.is_file():  # the steady stamp first: the job's next outputs will be newer than it
            write_stamp(base, content([]))
        write_stamp(path, content(changes))
        return str(path)

    def _dry_folder(self) -> Path:
        if self._dry is None:
            self._dry = Path(tempfile.mkdtemp(prefix="stseg-dry-run-stamps-"))
            atexit.register(shutil.rmtree, self._dry, True)
        return self._dry


def write_stamp(path: str | os.PathLike[str], content: str) -> None:
    """Write a job's stamp and remove the other stamps of its key: all of them for a steady stamp, all but its steady
    one for a volatile stamp (module docstring)."""
    path = Path(path)
    base = path.name.split(".", 1)[0]
    keep = {path.name} | ({base} if "." in path.name else set())
    path.parent.mkdir(parents=True, exist_ok=True)
    for other in os.scandir(path.parent):
        if other.name not in keep and not other.name.startswith("."):
            os.unlink(other.path)
    with atomic_path(path) as tmp:
        tmp.write_text(content + "\n")
