"""What Snakemake cannot see in a folder: in-place edits of the files inside it.

Snakemake judges a folder by one time: the folder's own mtime for an input, its
``.snakemake_timestamp`` for an output.  Neither moves when a file inside is
rewritten in place, so a corrected frame or an edited mask would leave
"Nothing to be done".  Two remedies, one per kind of folder:

* **Folders the user owns** (a video's ``JPEGImages/<video>``, a ``precomputed``
  model's ``<path>/<video>``): :func:`folder_stamp` digests every file's name,
  size and mtime (one ``scandir`` with a ``stat`` per file, no reading).  The
  inference rule takes the stamp as a parameter, and Snakemake reruns a job whose
  parameters changed.  A file rewritten with the same bytes also reruns it (its
  mtime moved); the dataset itself is never written to.
* **Folders the workflow made** (``masks/``, ``foreground/``, ``pseudo/``,
  ``final/``): :func:`refresh_output_stamps`, run when the workflow is parsed by
  the main Snakemake process, moves a folder's ``.snakemake_timestamp`` forward to
  the newest change inside it (a file edited, added, or deleted), so every job
  that reads the folder reruns on what it now holds, as for an edited CSV.  The
  job that made it does not rerun: an edit is kept, as ``make`` keeps an edited
  object file.  To make a folder again from its inputs, delete it.  A folder
  that lost a frame's PNG is incomplete: it is removed and made again.
* **Outputs a record owns** (the chunked layout, :mod:`stseg.chunks`: Snakemake
  sees a chunk job's record, not its videos' files): :func:`refresh_records`
  gives them the same rules through the record.  One of them gone, or a folder
  that lost a frame, removes the record (its job runs again and makes it); one
  edited rewrites the record with the time of the edit (the jobs reading it
  rerun; a touch would not do: Snakemake skips a newer small input whose
  checksum it recorded).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Callable, Iterable, Sequence
from urllib.parse import unquote

from .files import atomic_path

__all__ = [
    "TIMESTAMP",
    "file_stamp",
    "folder_stamp",
    "refresh_output_stamps",
    "refresh_records",
    "refresh_stamp",
    "remove_if_incomplete",
    "set_aside_stale",
    "described_videos",
    "keep_last_good",
    "prepare_last_good",
    "rescue_last_good",
    "settle_last_good",
]

#: Snakemake's own mtime carrier inside a folder output
TIMESTAMP = ".snakemake_timestamp"

def folder_stamp(folder: str | os.PathLike[str]) -> str:
    """A digest of the names, sizes and mtimes of the files in ``folder`` (``absent`` when there is none).

    Hidden files are left out (``.snakemake_timestamp``, partials of a writer).
    """
    try:
        entries = [e for e in os.scandir(folder) if not e.name.startswith(".")]
    except FileNotFoundError:
        return "absent"
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.name):
        stat = entry.stat()
        digest.update(f"{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def file_stamp(path: str, label: str | None = None) -> str:
    """One file's line in a job's stamp: ``<label>:<size>:<mtime ns>`` (``label``: the path unless given), or
    ``<path>:absent``."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return f"{path}:absent"
    return f"{path if label is None else label}:{stat.st_size}:{stat.st_mtime_ns}"


def refresh_stamp(folder: Path) -> bool:
    """Move ``folder``'s Snakemake timestamp to its newest change inside; whether it moved.

    The newest change is the latest mtime of its files and of the folder itself
    (which moves when a file is added, renamed or deleted).  A folder without a
    timestamp is left alone: Snakemake already reads the folder's own mtime.
    """
    stamp = folder / TIMESTAMP
    try:
        stamped = stamp.stat().st_mtime_ns
        newest = folder.stat().st_mtime_ns
        for entry in os.scandir(folder):
            if entry.name != TIMESTAMP:
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
    except FileNotFoundError:
        return False
    if newest <= stamped:
        return False
    os.utime(stamp, ns=(newest, newest))
    return True


def remove_if_incomplete(folder: Path, frames: Sequence[str]) -> bool:
    """Remove a folder output that lacks a frame's PNG, so that it is made again; whether it was incomplete."""
    try:
        present = {e.name for e in os.scandir(folder)}
    except FileNotFoundError:
        return False
    if all(f"{frame}.png" in present for frame in frames):
        return False
    shutil.rmtree(folder)
    return True


def refresh_output_stamps(folders: Iterable[tuple[Path, Sequence[str]]]) -> tuple[list[Path], list[Path]]:
    """For each folder output and its video's frames: remove it when a frame's PNG is gone (it is made again),
    else refresh its timestamp; the folders removed and the folders whose timestamp moved."""
    removed, moved = [], []
    for folder, frames in folders:
        if not folder.is_dir():
            continue
        if remove_if_incomplete(folder, frames):
            removed.append(folder)
        elif refresh_stamp(folder):
            moved.append(folder)
    return removed, moved


def _newest_change(path: Path, frames: Sequence[str] | None) -> int | None:
    """The newest change of an owned output (a folder: itself and its files); None when it is gone or incomplete."""
    try:
        newest = path.stat().st_mtime_ns
        if frames is None:
            return newest
        names = set()
        for entry in os.scandir(path):
            names.add(entry.name)
            if entry.name != TIMESTAMP:
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return newest if all(f"{frame}.png" in names for frame in frames) else None


def refresh_records(records: Iterable[tuple[Path, Sequence[tuple[Path, Sequence[str] | None]]]]) -> tuple[list[Path], list[Path]]:
    """For each record and the outputs it owns (a folder with the frames it holds a PNG for, or a file with None):
    remove the record when one of them is gone or incomplete (its job makes them again), else move its mtime
    forward to their newest change.  The records removed and the records moved."""
    removed, moved = [], []
    for record, outputs in records:
        try:
            stamped = record.stat().st_mtime_ns
        except FileNotFoundError:
            continue
        changes = [_newest_change(path, frames) for path, frames in outputs]
        if any(change is None for change in changes):
            record.unlink()
            removed.append(record)
            continue
        newest = max((c for c in changes if c is not None), default=stamped)
        if newest <= stamped:
            continue
        # rewritten, not only touched: Snakemake does not rerun for a newer small input whose checksum is the one
        # it recorded (its persistence keeps the checksums of inputs under max-checksum-file-size)
        try:
            content = json.loads(record.read_text())
            content["outputs_changed_ns"] = newest
        except (ValueError, TypeError, OSError):
            record.unlink(missing_ok=True)  # not a record this workflow wrote: its job makes it again
            removed.append(record)
            continue
        with atomic_path(record) as tmp:
            tmp.write_text(json.dumps(content, indent=1))
        moved.append(record)
    return removed, moved


def described_videos(summary: Path, submission: Path) -> set[str]:
    """The videos a summary table (its ``video`` column) and a submission zip (its top folders) describe."""
    videos: set[str] = set()
    if summary.is_file():
        with open(summary, newline="") as table:
            videos |= {row["video"] for row in csv.DictReader(table) if row.get("video")}
    if submission.is_file():
        with zipfile.ZipFile(submission) as archive:
            videos |= {name.split("/", 1)[0] for name in archive.namelist() if "/" in name}
    return videos


def _changed_at(path: Path) -> int | None:
    """When ``path`` last changed, as Snakemake judges it (a folder by its timestamp); None if it is gone."""
    try:
        if path.is_dir() and (path / TIMESTAMP).exists():
            return (path / TIMESTAMP).stat().st_mtime_ns
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def set_aside_stale(
    outputs: Sequence[Path],
    described: Iterable[str],
    per_video: Callable[[str], Sequence[Path]],
    stale_dir: Path,
) -> list[Path]:
    """Move the dataset-level ``outputs`` that no longer describe what is on disk into ``stale_dir``.

    ``described`` are the videos those outputs describe (the zip's and the
    summary's); ``per_video(video)`` lists that video's intermediate outputs.  An
    output is stale when one of them is gone (Snakemake removed it before a job
    that then failed) or newer than the output (remade in a run that stopped
    before the output was).  A stale output is moved, not deleted (a rename needs no
    space, so this works on a full disk too); the next complete run writes it again.
    Returns the new paths of what was moved.
    """
    changes: list[int | None] = [_changed_at(p) for video in described for p in per_video(video)]
    gone = any(c is None for c in changes)
    newest = max((c for c in changes if c is not None), default=0)
    moved = []
    for output in outputs:
        when = _changed_at(output)
        if when is None or (not gone and newest <= when):
            continue
        target = stale_dir / output.relative_to(stale_dir.parent)  # stale/<its path under the results folder>
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(output, target)
        moved.append(target)
    return moved


#: where the outputs a run is about to replace are kept until the run ends (one flat folder, made in advance)
LAST_GOOD = Path(".stseg") / "last-good"


def _flat(relative: Path) -> str:
    return str(relative).replace("%", "%25").replace(os.sep, "%2F")


def prepare_last_good(results: str | os.PathLike[str]) -> Path:
    """Make the folder that keeps the last good outputs when the workflow is parsed, while there is room for it."""
    keep = Path(results) / LAST_GOOD
    keep.mkdir(parents=True, exist_ok=True)
    return keep


def keep_last_good(results: str | os.PathLike[str], outputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Keep every existing ``output`` under ``results`` in ``<results>/.stseg/last-good/``; their relative paths.

    Called when jobs are about to run: Snakemake removes a job's outputs before it
    starts, so without this a job that then fails (a full disk, a crash) takes the
    last good outputs with it.  Each is kept as hard links (no data space; the
    output stays in place until its job starts); where even that does not fit (a
    full disk) the output is moved there instead, as Snakemake would have removed
    it.  :func:`settle_last_good` releases them when the run ends.
    """
    results = Path(results).resolve()
    keep = results / LAST_GOOD
    keep.mkdir(parents=True, exist_ok=True)
    rescue_last_good(results)
    kept = []
    for output in outputs:
        path = Path(output).resolve()
        if not path.exists() or results not in path.parents or (results / ".stseg") in path.parents:
            continue
        relative = path.relative_to(results)
        target = keep / _flat(relative)
        try:
            if path.is_dir():
                shutil.copytree(path, target, copy_function=os.link, symlinks=True)
            else:
                os.link(path, target)
        except OSError:  # no room even for links: move it (its job would remove it anyway)
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists():
                target.unlink()
            os.replace(path, target)
        kept.append(relative)
    return kept


def rescue_last_good(results: str | os.PathLike[str]) -> list[Path]:
    """The last good outputs a killed run left in ``<results>/.stseg/last-good/`` (SIGKILL, the OOM killer, a
    SLURM time limit: its ``settle_last_good`` never ran).  Each whose original is gone (Snakemake removed it for a
    job that never finished) is moved to ``<results>/stale/<its path>``, as after a failed run; each whose original
    is there is a spare copy and is released.  Called when the next run's jobs are about to run (it holds the
    results lock).  The moved paths."""
    results = Path(results)
    keep = results / LAST_GOOD
    moved = []
    for leftover in os.scandir(keep) if keep.is_dir() else ():
        relative = Path(unquote(leftover.name))
        original, target = results / relative, results / "stale" / relative
        if not original.exists() and not relative.is_absolute() and ".." not in relative.parts:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(leftover.path, target)
            moved.append(target)
        elif leftover.is_dir(follow_symlinks=False):
            shutil.rmtree(leftover.path)
        else:
            os.unlink(leftover.path)
    return moved


def settle_last_good(results: str | os.PathLike[str], kept: Sequence[Path], failed: bool) -> list[Path]:
    """When a run ends: after a failure, move each ``kept`` output whose original is gone (Snakemake removed it
    for a job that did not finish) to ``<results>/stale/<its path>``; then release the kept copies.  The moved
    paths."""
    results = Path(results)
    keep = results / LAST_GOOD
    moved = []
    for relative in kept if failed else ():
        copy = keep / _flat(relative)
        if (results / relative).exists() or not copy.exists():
            continue
        target = results / "stale" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(copy, target)
        moved.append(target)
    shutil.rmtree(keep, ignore_errors=True)
    return moved
