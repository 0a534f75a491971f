"""Files that appear only when complete, and the cleaning up after writers that were killed.

* :func:`atomic_path` / :func:`atomic_dir`: write under a hidden temporary name
  (``.<name>.<pid>.partial``) and rename onto the final name when the block
  succeeds, so an interrupted job never leaves a file or folder that looks
  finished; on an exception the partial is removed.
* Leftovers of killed writers (partials whose process is gone) are removed by the
  next writer of the same path.
* :func:`write_if_changed`: an atomic write that leaves a file holding the same text alone (its mtime too).
* :func:`glob_escape`: a name as a literal glob pattern.
* :func:`read_ahead`: files decoded by reader threads a few ahead of their use.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["atomic_dir", "atomic_path", "glob_escape", "process_alive", "read_ahead", "write_if_changed"]


def _remove_stale_partials(path: Path) -> None:
    """Remove leftovers of killed writers of ``path`` (``.<name>.<pid>.partial`` of dead processes)."""
    for leftover in path.parent.glob(f".{glob_escape(path.name)}.*.partial"):
        pid = leftover.name[len(path.name) + 2 : -len(".partial")]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process of this id exists and is not a zombie.

    A writer killed with its parent is re-parented to the init process, and an
    init that does not reap (some containers') leaves it a zombie forever: it
    still answers signal 0 but will never finish its partial.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): signal 0 is all we know
    return state != "Z"


def glob_escape(name: str) -> str:
    return glob.escape(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name starts with ``.`` and ends with ``.partial`` so that a
    leftover from a killed process is never mistaken for a finished file; on an
    exception it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; rename it onto ``path`` when the block succeeds.

    Used for per-video outputs made of many files (one PNG per frame): the folder
    appears under its final name only once every file in it is written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` to ``path`` atomically unless it already holds exactly that; whether it was written."""
    path = Path(path)
    try:
        if path.read_text() == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return True


def read_ahead(function: Callable[[T], R], items: Sequence[T], ahead: int = 4, readers: int = 2) -> Iterator[R]:
    """``map(function, items)`` computed by ``readers`` threads a few items ahead, in order (PNG decoding releases
    the GIL)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=readers) as reader:
        pending: deque = deque()
        for item in items:
            pending.append(reader.submit(function, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
