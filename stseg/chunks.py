"""The chunked layout: the light per-video stages of several videos in one job (``stages.videos_per_job``).

With ``stages.videos_per_job: K`` (K > 1) the stages after inference run K
videos per job instead of one job per (stage, video):

* ``refine`` (one job per chunk): for each video of the chunk, the fusion of the
  voting models' boxes, the split of each foreground-only model's masks, the
  pseudo-labels and the scores;
* ``select`` (one job per chunk, after the dataset prior): for each video, the
  selection (final masks, selection and outcome tables) and the report's overlay
  strip.

A batched model (``inference.videos_per_job``) puts each video's masks at
``masks/<model>/<video>/`` itself, so no per-video ``request`` and ``take`` jobs
are needed either.  A project of V videos and M models then has about
``M * V / N + 2 * V / K`` jobs instead of ``(M + 5) * V`` (``(3 M + 5) * V``
for batched inference), which is what a dry run's time follows (about 2 ms a
job in Snakemake itself; ``benchmarks/bench_scale.py``).

**Same bytes.**  A chunk job runs, in one process, the very ``stseg`` commands
the per-video rules run (:func:`run_steps`), with the same arguments
(:meth:`stseg.stage_commands.StageCommands.video_steps` builds them as the rules do), writing
every per-video file at the same path.  Only the jobs and their bookkeeping differ.

**Records.**  A chunk job (and a batched model's job in this layout) writes its
record (``chunks/<stage>/<chunk>.json``; ``batches/<model>/<batch>.json``)
last: that is what Snakemake sees.  Each record owns its videos' per-video
outputs: when the workflow is parsed, a record one of whose outputs is gone (or
a folder that lost a frame) is removed, so its job runs again, and a record one
of whose outputs was edited is moved forward in time, so the jobs reading it
rerun (:func:`stseg.freshness.refresh_records`), as for a per-video output.

**Assignment and what reruns.**  Chunks are job groups, cut and kept like batches
(:mod:`stseg.job_groups`, kept in ``<results>/.stseg/groups.json``): consecutive
videos on a first run, a new video joins the last chunk.  The price
of the layout is granularity: one changed video reruns the light stages of its
whole chunk (K videos; inference still computes only the changed video), and a
video that fails stops its chunk's later stages until it is fixed (the other
chunks go on with ``keep-going``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .errors import StsegError
from .files import atomic_path

__all__ = ["CHUNK_STAGES", "ChunkError", "Step", "read_steps", "run_steps", "steps_digest"]

#: the light stages a chunk job runs, in order
CHUNK_STAGES = ("refine", "select")


class ChunkError(StsegError, RuntimeError):
    """Videos of a chunk whose step failed with an expected error (bad input); the others were done."""


@dataclass(frozen=True)
class Step:
    """One ``stseg`` command of one video, as the per-video rule would run it."""

    video: str
    argv: tuple[str, ...]

    @classmethod
    def from_json(cls, text: str) -> list["Step"]:
        return [cls(video=s["video"], argv=tuple(s["argv"])) for s in json.loads(text)]

    @staticmethod
    def to_json(steps: Sequence["Step"]) -> str:
        return json.dumps([{"video": s.video, "argv": list(s.argv)} for s in steps], separators=(",", ":"))


def steps_digest(steps_json: str) -> str:
    """The digest a chunk job's steps file is checked against (the job's parameter)."""
    return hashlib.sha1(steps_json.encode()).hexdigest()[:20]


def read_steps(path: str | os.PathLike[str], digest: str) -> list[Step]:
    """A chunk job's steps from the file the main process wrote, checked against the digest the job was planned
    with."""
    path = Path(path)
    text = path.read_text() if path.is_file() else ""
    if steps_digest(text) != digest:
        raise ChunkError(f"{path}: {'missing' if not text else 'not the steps this job was planned with'} (another "
                         "run changed the plan since); run the workflow again.")
    return Step.from_json(text)


def run_steps(steps: Sequence[Step], record: str | os.PathLike[str], parse: Callable[[list[str]], argparse.Namespace]
              ) -> dict:
    """Run every step in this process, in order; write ``record`` last.  Returns the record.

    ``parse``: the ``stseg`` command table (its parser's ``parse_args``), which turns a step's arguments into the
    command's function and arguments, as the command line would.  A step that fails with an expected error
    (:class:`~stseg.errors.StsegError`: a bad mask, a missing file) skips that video's later steps and not the
    other videos'; the job then fails naming every failed video (no record: a rerun does the chunk again)."""
    started = time.perf_counter()
    failed: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for step in steps:
        if step.video in failed:
            continue
        args = parse(list(step.argv))
        begin = time.perf_counter()
        print(f"stseg {args.command}: {step.video}", file=sys.stderr, flush=True)
        try:
            args.func(args)
        except StsegError as error:
            failed[step.video] = f"stseg {args.command}: {error}"
            print(f"stseg {args.command}: error: {step.video}: {error}", file=sys.stderr, flush=True)
            continue
        seconds[step.video] = seconds.get(step.video, 0.0) + time.perf_counter() - begin
    if failed:
        raise ChunkError(f"{len(failed)} video(s) of the chunk failed (the others are done):\n"
                         + "\n".join(f"{video}: {reason}" for video, reason in failed.items()))
    # written_ns: a rerun's record never has the bytes of the last one (Snakemake compares small inputs' checksums)
    result = {"videos": list(seconds), "seconds": {v: round(s, 4) for v, s in seconds.items()},
              "total_seconds": round(time.perf_counter() - started, 4), "written_ns": time.time_ns()}
    with atomic_path(record) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1))
    return result
