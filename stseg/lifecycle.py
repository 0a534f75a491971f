"""One run's life over its results folder: the lock, the last good outputs, what is set aside, the failure report.

Every piece is a plain function; :class:`RunLifecycle` strings them together for
the workflow's three handlers (``onstart``, ``onsuccess``, ``onerror`` in
``rules/output.smk``), each a line.  Nothing here runs while the workflow is
parsed: a dry run, or a run refused by the lock, changes nothing.

* **One run at a time** (:func:`lock_results`): an exclusive ``flock`` on
  ``<results>/.stseg/lock``, taken when the run's jobs are about to start and held
  by the Snakemake process until it ends (success, failure, Ctrl-C, SIGTERM from
  SLURM, or a kill: the kernel releases it).  Snakemake locks its working
  directory, not the results folder: two runs started from different
  directories on one results folder would run every job twice.
* **Whose folder** (:func:`check_results_folder`): ``results:`` must be a new
  or empty folder, or one stseg made (it holds ``.stseg/``); another non-empty
  folder is refused, so that ``stale/`` and the outputs stseg removes are always
  its own.
* **The last good outputs** (:func:`keep_last_good`, :func:`settle_last_good`,
  :func:`rescue_last_good`): Snakemake removes a job's outputs before the job
  runs; they are kept until the run ends, and those whose job did not finish go
  to ``stale/<their path>``.
* **Stale descriptions** (:func:`set_aside_stale`): after a failing run, the
  summary and the zip that describe masks the run removed are moved to
  ``stale/``, not deleted.
* **Leftovers of killed writers** (:func:`sweep_partials`): hidden partial files
  and folders (:mod:`stseg.files`) of processes that are gone.
* **The failure report** (:func:`failure_report`): which videos failed in this
  run, where and why, and which did not finish (``failed.csv``).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import unquote

import pandas as pd

from .errors import StsegError
from .files import glob_escape, process_alive
from .stamps import TIMESTAMP

__all__ = [
    "DATASET", "LAST_GOOD", "NOT_FINISHED", "WAITING", "WAITING_FOR_FAILED_PRIOR", "ResultsFolderError",
    "ResultsInUseError", "RunLifecycle", "check_results_folder", "described_videos", "failed_job_logs",
    "failure_report", "format_failures", "keep_last_good", "lock_results", "rescue_last_good", "set_aside_stale",
    "settings_in_force", "settle_last_good", "snakemake_job_errors", "sweep_partials",
]


class ResultsInUseError(StsegError, RuntimeError):
    """Another run holds the results folder's lock."""


class ResultsFolderError(StsegError, ValueError):
    """``results:`` names a folder stseg did not make."""


def lock_results(results: str | os.PathLike[str]) -> Any:
    """Hold an exclusive lock on the results folder (``<results>/.stseg/lock``) for as long as the returned open file
    is referenced (the run keeps it for its life); refuse, changing nothing, when another process holds it."""
    import fcntl

    path = Path(results) / ".stseg" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ResultsInUseError(
            f"results: {results} is in use by another run ({holder}). Wait for it to finish, or give this run "
            "another 'results:' folder; nothing was run."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, started in {os.getcwd()}\n")
    handle.flush()
    return handle


def check_results_folder(results: str | os.PathLike[str]) -> None:
    """Refuse a ``results:`` folder that stseg did not make: it exists, is not empty and holds no ``.stseg/``."""
    results = Path(results)
    try:
        entries = [e.name for e in os.scandir(results)]
    except (FileNotFoundError, NotADirectoryError):
        return
    if entries and ".stseg" not in entries:
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise ResultsFolderError(
            f"results: {results} is not empty ({shown}) and was not made by stseg. Give 'results:' a new or empty "
            "folder: stseg keeps its own stale/ and removes outputs there."
        )


def sweep_partials(folders: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Remove the partial files and folders (``.<name>.<pid>.partial``, :mod:`stseg.files`) that killed writers left in
    ``folders``; the removed paths."""
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = entry.name
            if not (name.startswith(".") and name.endswith(".partial")):
                continue
            pid = name[:-len(".partial")].rsplit(".", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


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


#: where the outputs a run is about to replace are kept until the run ends (one flat folder)
LAST_GOOD = Path(".stseg") / "last-good"


def _flat(relative: Path) -> str:
    return str(relative).replace("%", "%25").replace(os.sep, "%2F")


def keep_last_good(results: str | os.PathLike[str], outputs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Keep every existing ``output`` under ``results`` in ``<results>/.stseg/last-good/``; their relative paths.

    Called when jobs are about to run: Snakemake removes a job's outputs before it
    starts, so without this a job that then fails (a full disk, a crash) takes the
    last good outputs with it.  Each is kept as hard links (no data space; the
    output stays in place until its job starts); where links cannot be made (an
    output on another file system, through a symlinked folder) it is copied; where
    even that does not fit (a full disk) the output is moved there instead, as
    Snakemake would have removed it.  Paths are taken as written, not resolved: an
    output under a symlinked folder of the results folder is the results folder's.
    :func:`settle_last_good` releases them when the run ends.  The relative paths of
    the outputs it could not keep are left out (and printed by the caller).
    """
    results = Path(os.path.abspath(results))
    keep = results / LAST_GOOD
    keep.mkdir(parents=True, exist_ok=True)
    kept = []
    for output in outputs:
        path = Path(os.path.abspath(output))
        if not os.path.lexists(path) or results not in path.parents or (results / ".stseg") in path.parents:
            continue
        relative = path.relative_to(results)
        target = keep / _flat(relative)
        if _keep_one(path, target):
            kept.append(relative)
    return kept


def _keep_one(path: Path, target: Path) -> bool:
    """Hard links, else a copy, else the output moved: whether ``path`` is kept at ``target``."""
    for how in ("link", "copy", "move"):
        try:
            if how == "move":
                shutil.move(str(path), str(target))
            elif path.is_dir():
                shutil.copytree(path, target, copy_function=os.link if how == "link" else shutil.copy2, symlinks=True)
            else:
                (os.link if how == "link" else shutil.copy2)(path, target)
            return True
        except OSError:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            elif os.path.lexists(target):
                target.unlink()
    return False


def rescue_last_good(results: str | os.PathLike[str]) -> list[Path]:
    """The last good outputs a killed run left in ``<results>/.stseg/last-good/`` (SIGKILL, the OOM killer, a
    SLURM time limit: its ``settle_last_good`` never ran).  Each whose original is gone (Snakemake removed it for a
    job that never finished) is moved to ``<results>/stale/<its path>``, as after a failed run; each whose original
    is there is a spare copy and is released.  Called when the next run's jobs are about to run (it holds the
    results lock).  The moved paths."""
    results = Path(os.path.abspath(results))
    keep = results / LAST_GOOD
    moved = []
    for leftover in os.scandir(keep) if keep.is_dir() else ():
        relative = Path(unquote(leftover.name))
        original, target = results / relative, results / "stale" / relative
        if not original.exists() and not relative.is_absolute() and ".." not in relative.parts:
            _put(Path(leftover.path), target)
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
    results = Path(os.path.abspath(results))
    keep = results / LAST_GOOD
    moved = []
    for relative in kept if failed else ():
        copy = keep / _flat(relative)
        if (results / relative).exists() or not copy.exists():
            continue
        target = results / "stale" / relative
        _put(copy, target)
        moved.append(target)
    shutil.rmtree(keep, ignore_errors=True)
    return moved


def _put(kept: Path, target: Path) -> None:
    """Move a kept output to its place under ``stale/`` (same file system: a rename), replacing an older one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif os.path.lexists(target):
        target.unlink()
    os.replace(kept, target)


#: below this much free space an empty log is blamed on a full disk
FULL_DISK_BYTES = 1 << 20


def _reason(text: str, results: Path | None = None) -> str:
    """The error line of a job's log: stseg's ``... error: ...`` line, else the last line; for an empty log on a
    full file system, that."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if ": error:" in line or line.startswith(("Error", "MemoryError", "RuntimeError", "OSError")):
            return line
    if lines:
        return lines[-1]
    if results is not None and shutil.disk_usage(results).free < FULL_DISK_BYTES:
        free = shutil.disk_usage(results).free
        return (f"(empty log) the file system of {results} is full ({free // 1024} KiB free): the job could not "
                "write its outputs or its log. Free some space and rerun; the finished jobs are kept.")
    return "(empty log: the job was killed or never started)"


#: the reason given for a video whose own jobs all succeeded but whose selection waits for the dataset prior
WAITING = ("not selected yet: its masks, pseudo-labels and scores are complete, but the dataset prior "
           "(pgmr.prior_margin) needs every video's scores; fix or leave out the failed video(s) and rerun, or set "
           "pgmr.prior_margin: null")


#: the reason given for a video waiting for the dataset prior when the prior's own job failed in this run
WAITING_FOR_FAILED_PRIOR = ("not selected yet: its masks, pseudo-labels and scores are complete, but the dataset "
                            "prior's job failed (its row above); fix that and rerun")

#: the reason given for a video whose jobs did not fail but did not all run (the run stopped at another's failure)
NOT_FINISHED = "not finished: the run stopped at another job's failure (--keep-going lets the others finish)"

#: the stage of a row about a job of the whole dataset (the prior, the summary, a fine-tuning run), not of one video
DATASET = "(dataset)"


def _log_lines(snakemake_logs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[str]:
    """The lines of a Snakemake run's own log file(s) (one path or several; None or absent files: none)."""
    if snakemake_logs is None:
        return []
    if isinstance(snakemake_logs, (str, os.PathLike)):
        snakemake_logs = [snakemake_logs]
    return [line for path in snakemake_logs if Path(path).is_file()
            for line in Path(path).read_text(errors="replace").splitlines()]


def failed_job_logs(snakemake_logs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[Path]:
    """The job logs named by the ``Error in rule ...`` blocks of a Snakemake run's own log file(s) (the ``log`` of
    an ``onerror`` handler): this run's failures."""
    lines = _log_lines(snakemake_logs)
    logs: list[Path] = []
    in_error = False
    for line in lines:
        if line.startswith("Error in rule") or line.startswith("Error in group"):
            in_error = True
        elif in_error and line.strip().startswith("log:"):
            names = line.strip()[len("log:"):].split(" (check log file")[0]
            logs.extend(Path(name.strip()) for name in names.split(",") if name.strip())
        elif in_error and not line.startswith(" "):
            in_error = False
    return logs


def snakemake_job_errors(snakemake_logs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None
                         ) -> list[tuple[str, str]]:
    """The jobs Snakemake itself failed after they ran, from its own log(s): ``(rule, message)`` of each
    ``<Kind>Error in rule <rule> in file ...:`` or ``<Kind>Exception in rule ...`` block (an output older than an
    input, "clock skew"; an output missing after ``latency-wait``), whose message names the job's files and is in
    no job's log."""
    lines = _log_lines(snakemake_logs)
    found = []
    for at, line in enumerate(lines):
        match = re.match(r"(\w+(?:Error|Exception)) in rule (\S+) in file", line)
        if match and at + 1 < len(lines) and lines[at + 1].strip():
            message = lines[at + 1].strip()
            if at + 2 < len(lines) and lines[at + 2].startswith("/"):  # the missing files, one a line
                message += " " + lines[at + 2].strip()
            found.append((match.group(2), message))
    return found


def _names_video(message: str, video: str) -> bool:
    """Whether a Snakemake message names one of the video's files (a path component equal to the video's name)."""
    return re.search(rf"/{re.escape(video)}(?:[/.:,\s]|$)", message) is not None


def _current(outcome: Path, inputs: Sequence[Path]) -> bool:
    """Whether a selection ``outcome`` exists and is newer than every input it was made from (all present)."""
    if not outcome.is_file():
        return False
    made = outcome.stat().st_mtime_ns
    for path in inputs:
        stamp = path / ".snakemake_timestamp" if path.is_dir() else path
        if not stamp.exists() or stamp.stat().st_mtime_ns > made:
            return False
    return True


def failure_report(results: str | os.PathLike[str], videos: Sequence[str],
                   failed_logs: Sequence[str | os.PathLike[str]] = (),
                   selection_inputs: Callable[[str], Sequence[Path]] | None = None,
                   left_undone: Callable[[str, bool], bool] | None = None,
                   shared_logs: Callable[[str], Sequence[Path]] | None = None,
                   job_errors: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """Every video whose job failed in this run (``failed_logs``: from :func:`failed_job_logs`), with the stage, log
    and reason, and every other video without a current selection outcome, saying why (waiting for the dataset
    prior, or not finished).  ``selection_inputs(video)`` lists what a video's outcome is made from: an outcome
    older than one of them, or with one missing, is from an earlier run and does not count; nor does a video for
    which ``left_undone(video, before_selection)`` says this run had jobs to do that it did not finish (all its
    jobs, or only those before the selection: a video whose selection alone is left waits for the prior).
    ``shared_logs(video)``: the logs of the jobs that do the video together with others (the batch jobs that
    segment it, stseg.batching; its chunk's jobs, stseg.chunks).  ``job_errors``: the jobs Snakemake failed after
    they ran (:func:`snakemake_job_errors`), each counted for the video whose files its message names.  A failed
    job of the whole dataset (the prior, the summary, a fine-tuning run) is a row of its own, first, with the video
    :data:`DATASET`."""
    results = Path(results)
    failed = {Path(p).resolve() for p in failed_logs}
    rows = []
    video_logs = {video: [*(results / "logs").rglob(f"{glob_escape(video)}.log"),
                          *(shared_logs(video) if shared_logs else [])] for video in videos}
    of_videos = {Path(p).resolve() for paths in video_logs.values() for p in paths}
    ours = (results / "logs").resolve()
    for log in sorted(failed - of_videos):
        if not log.is_relative_to(ours):
            continue  # an executor's own log (a SLURM job's), named beside the job's: the job's log says why
        text = log.read_text(errors="replace") if log.is_file() else ""
        stage = "/".join(log.relative_to(ours).with_suffix("").parts)
        rows.append((DATASET, stage, str(log), _reason(text, results)))
    for rule, message in job_errors:
        if not any(_names_video(message, video) for video in videos):
            rows.append((DATASET, rule, "", message))
    prior_failed = any(row[1] == "prior" for row in rows)
    for video in videos:
        logs = {p: p.read_text(errors="replace") for p in video_logs[video] if p.is_file()}
        failing = [p for p in logs if p.resolve() in failed]
        inputs = selection_inputs(video) if selection_inputs is not None else []
        undone = left_undone is not None and left_undone(video, False)
        if not failing and not undone and _current(results / "outcome" / f"{video}.csv", inputs):
            continue  # complete, and none of its jobs failed in this run
        snakemakes = [(rule, message) for rule, message in job_errors if _names_video(message, video)]
        failing = failing or [p for p, text in logs.items() if ": error:" in text or "Traceback" in text]
        if snakemakes and not failing:
            rows.append((video, snakemakes[0][0], "", snakemakes[0][1]))
        elif failing:
            chosen = max(failing, key=lambda p: p.stat().st_mtime)
            stage = "/".join(chosen.relative_to(results / "logs").parts[:-1])
            rows.append((video, stage, str(chosen), _reason(logs[chosen], results)))
        elif (not (left_undone is not None and left_undone(video, True)) and all(p.exists() for p in inputs)
              and (results / "scores" / f"{video}.csv").is_file()):
            rows.append((video, "select", "", WAITING_FOR_FAILED_PRIOR if prior_failed else WAITING))
        else:
            rows.append((video, "", "", NOT_FINISHED))
    return pd.DataFrame(rows, columns=["video", "stage", "log", "reason"])


def format_failures(failures: pd.DataFrame, total: int) -> str:
    waiting = int(failures["reason"].isin([WAITING, WAITING_FOR_FAILED_PRIOR]).sum())
    unfinished = int((failures["reason"] == NOT_FINISHED).sum())
    dataset = int((failures["video"] == DATASET).sum())
    failed = len(failures) - waiting - unfinished - dataset
    lines = []
    for row in failures[failures["video"] == DATASET].itertuples(index=False):
        lines.append(f"the {row.stage} job (of the whole dataset) failed: {row.reason}")
        if row.log:
            lines.append(f"    log: {row.log}")
    failures = failures[failures["video"] != DATASET]
    if unfinished:
        head = f"{failed} of {total} video(s) failed; {unfinished} did not finish"
        head += f"; {waiting} wait for the dataset prior" if waiting else ""
    elif failed == total:
        head = f"{failed} of {total} video(s) failed"
    elif failed:
        head = f"{failed} of {total} video(s) failed; the others' results are complete"
        head += f" up to their scores ({waiting} wait for the dataset prior)" if waiting else ""
    else:
        head = f"no video's own job failed; {waiting} of {total} wait for the dataset prior" if waiting else \
            f"no video's own job failed; the {total} video(s)' results are complete"
    lines.append(head + (":" if len(failures) else ""))
    for row in failures.itertuples(index=False):
        lines.append(f"  {row.video}: {row.stage or '-'}: {row.reason}")
        if row.log:
            lines.append(f"      log: {row.log}")
    return "\n".join(lines) + "\n"


def settings_in_force(workflow: Any) -> dict[str, Any]:
    """What a run was started with, from Snakemake's own settings objects (after every profile and flag was applied):
    the executor, ``keep-going``, ``latency-wait``, ``retries``, the scheduler and the cores or jobs."""
    execution = getattr(workflow, "execution_settings", None)
    scheduling = getattr(workflow, "scheduling_settings", None)
    resources = getattr(workflow, "resource_settings", None)
    plugin = getattr(workflow, "executor_plugin", None)
    found: dict[str, Any] = {"executor": getattr(plugin, "name", "local")}
    if execution is not None:
        found.update({"keep-going": str(execution.keep_going).lower(), "latency-wait": f"{execution.latency_wait} s",
                      "retries": execution.retries})
    if scheduling is not None:
        found["scheduler"] = getattr(scheduling, "scheduler", "?")
    if resources is not None:
        found["jobs" if getattr(plugin, "name", "local") not in ("local", "dryrun") else "cores"] = (
            getattr(resources, "nodes", None) if getattr(plugin, "name", "local") not in ("local", "dryrun")
            else getattr(resources, "cores", None))
    return found


class RunLifecycle:
    """The workflow's handlers (``rules/output.smk``): :meth:`take_lock` when the workflow is parsed by a run's main
    process, :meth:`start` when the run's jobs are about to start (onstart), :meth:`succeeded` (onsuccess) and
    :meth:`failed` (onerror).  ``plan``: the run's plan; ``outputs``: its :class:`~stseg.video_outputs.VideoOutputs`."""

    #: the stages whose outputs a video's selection is made from (what :meth:`left_undone` counts before it)
    EARLY = ("masks", "foreground", "boxes", "fused", "pseudo", "weights", "scores", "batches", "chunks/refine")

    def __init__(self, plan: Any, outputs: Any) -> None:
        self.plan, self.outputs = plan, outputs
        self.lock: Any = None
        self.kept: list[Path] = []
        self.pending: dict[str, list[str]] = {}
        self.started = 0.0

    @property
    def results(self) -> Path:
        return Path(self.plan.results)

    def take_lock(self) -> None:
        """Hold the results folder for this run (:func:`check_results_folder`, :func:`lock_results`), once."""
        if self.lock is None:
            check_results_folder(self.results)
            self.lock = lock_results(self.results)

    def start(self, jobs: Iterable[Any], settings: Mapping[str, Any] | None = None) -> None:
        """Hold the lock, say the settings in force (``settings``: :func:`settings_in_force`), remove the leftovers of
        killed writers, rescue a killed run's last good outputs, keep the ones this run replaces."""
        self.take_lock()
        if settings:
            print("stseg: settings in force: " + ", ".join(f"{k} {v}" for k, v in settings.items()), file=sys.stderr)
        sweep_partials(self._output_folders())
        rescued = rescue_last_good(self.results)  # a killed run's, whose jobs never finished: not lost
        if rescued:
            print(f"stseg: a killed run left the last good outputs of {len(rescued)} job output(s) that did not "
                  f"finish; they are kept in {self.results / 'stale'}/ under their own paths (e.g. {rescued[0]}).",
                  file=sys.stderr)
        self.started = time.time()
        outputs: list[str] = []
        for job in jobs:
            outputs += [str(f) for f in job.output]
            for video in self.plan.job_videos(job.wildcards):
                self.pending.setdefault(video, []).extend(str(f) for f in job.output)
        self.kept = keep_last_good(self.results, outputs)

    def left_undone(self, video: str, before_selection: bool = False) -> bool:
        """Whether this run had jobs of the video to do that did not finish (an output missing or older than the
        run); with ``before_selection``, only the jobs before its selection count."""
        early = tuple(os.path.join(str(self.results), stage, "") for stage in self.EARLY)
        pending = [p for p in self.pending.get(video, ()) if not before_selection or p.startswith(early)]
        return any(not os.path.exists(p) or os.path.getmtime(p) < self.started for p in pending)

    def succeeded(self, config_files: Sequence[str] = ()) -> None:
        """Release the kept outputs; when every video is complete, an earlier run's ``failed.csv`` and ``stale/`` go
        (what a failing run set aside is rewritten); print the summary and where to look."""
        from .summary import where_to_look

        settle_last_good(self.results, self.kept, failed=False)
        if not len(failure_report(self.results, list(self.plan.videos), [])):
            (self.results / "failed.csv").unlink(missing_ok=True)
            shutil.rmtree(self.results / "stale", ignore_errors=True)
        summary = self.results / "summary.txt"
        if summary.exists():
            print(f"{summary.read_text()}\n{where_to_look(self.results, config_files)}", end="")

    def failed(self, snakemake_log: Any) -> None:
        """Say which videos failed in this run (from Snakemake's own log), where and why, and which did not finish;
        keep the last good outputs of the jobs that did not finish in ``stale/``; move aside what describes masks
        this run removed or replaced."""
        from .tables import write_table

        videos = list(self.plan.videos)
        failures = failure_report(self.results, videos, failed_job_logs(snakemake_log), self.outputs.selection_inputs,
                                  self.left_undone, self.outputs.shared_logs, snakemake_job_errors(snakemake_log))
        if len(failures):
            print(format_failures(failures, len(videos)), end="", file=sys.stderr)
            try:
                write_table(failures, self.results / "failed.csv")
            except OSError as error:  # a full disk: the report above is all there is
                print(f"stseg: could not write {self.results / 'failed.csv'} ({error}); the report above is complete.",
                      file=sys.stderr)
        restored = settle_last_good(self.results, self.kept, failed=True)
        if restored:
            print(f"stseg: the last good outputs of {len(restored)} job output(s) that did not finish are kept in "
                  f"{self.results / 'stale'}/ under their own paths (e.g. {max(restored, key=lambda p: len(p.parts))}).",
                  file=sys.stderr)
        described = described_videos(self.results / "summary.csv", self.results / "submission.zip")
        stale = set_aside_stale(self.plan.layout.dataset_outputs, described, self.outputs.of_video,
                                self.results / "stale")
        if stale:
            print(f"stseg: moved {len(stale)} output(s) that described earlier masks to {self.results / 'stale'}/ "
                  f"({', '.join(p.name for p in stale)}); a complete run writes them again.", file=sys.stderr)

    def _output_folders(self) -> list[Path]:
        """Where writers leave partials: the results folder, its stages' folders and the models' folders in them."""
        folders = [self.results]
        for stage in (e for e in os.scandir(self.results) if e.is_dir() and e.name not in (".stseg", "stale")):
            folders.append(Path(stage.path))
            folders += [Path(e.path) for e in os.scandir(stage.path)
                        if e.is_dir() and (e.name in self.plan.models.names or e.name == "overlays")]
        return folders
