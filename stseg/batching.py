"""Batched inference: one job runs several videos of one model with one model load.

``inference.videos_per_job: N`` (a model's own ``videos_per_job`` wins) makes the
workflow run a model's videos N at a time.  A GPU job's start-up (Python, torch,
CUDA, building the network and reading its checkpoint, and on a cluster the job
step's re-parse of the workflow) is paid once per batch instead of once per video.

**Assignment.**  Batches are job groups (:mod:`stseg.job_groups`): consecutive
videos on a first run, kept in ``<results>/.stseg/groups.json`` and changed as
little as possible by later runs; a changed N, or a changed model type, starts
the assignment again.

**Files.**  A batch job writes each video's masks, exactly as the per-video
``infer`` job would, into ``batches/<model>/videos/<video>/`` (atomically, one
video at a time) with ``<video>.stamp`` beside it, then its own record
``batches/<model>/<batch>.json`` (the videos, their stamps and timings).  A
per-video ``take`` job (a local rule: a hard link per file, no computation;
in the chunked layout, :mod:`stseg.chunks`, the batch job itself) puts the folder at ``masks/<model>/<video>/`` (``foreground/`` for a
foreground-only model), so every later stage reads the same paths and bytes
as with ``videos_per_job: 1``.

**What reruns.**  A video's stamp holds everything its masks depend on (the
model's options, the checkpoint file, the frames, the annotations, the model's
code).  A batch job that reruns skips every video whose staged folder has the
stamp it would write, so a killed job keeps the videos it finished, and:

* one video's frames change: its batch job reruns and computes that video only;
  only that video's later stages rerun;
* a video is added: the batch it joins reruns and computes it only;
* one video is targeted (``final/<video>``) on a fresh results folder: its
  whole batch is computed (up to N videos), the price of one model load.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import StsegError
from .files import atomic_dir, atomic_path

__all__ = ["BatchVideo", "StagingError", "code_digest", "run_batch", "take_staged"]


class StagingError(StsegError, FileNotFoundError):
    """A staged video that is missing or was made from other inputs than the workflow expects."""


class BatchError(StsegError, RuntimeError):
    """Videos of a batch that failed with an expected error (bad input); the others were staged."""


def code_digest(model_type: str) -> str:
    """A digest of the stseg code a model's masks depend on (the model drivers, which build on each other, the model
    protocol, the inference loop, the mask writer): changed code makes every staged video stale, as it reruns a
    per-video job.  ``model_type`` is checked to be known."""
    from .models import get_spec

    get_spec(model_type)
    here = Path(__file__).resolve().parent
    files = [here / "inference.py", here / "masks.py", *sorted((here / "models").glob("*.py"))]
    digest = hashlib.sha1()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BatchVideo:
    """One video of a batch job, as the workflow passes it (``--videos`` JSON)."""

    video: str
    frames: str
    annotation: tuple[str, ...]
    #: the workflow's stamp of everything the video's masks depend on (stseg.workflow.Plan.video_stamp)
    stamp: str
    #: where the job itself puts the staged masks (the chunked layout, stseg.chunks); None: a take job does
    place: str | None = None

    @classmethod
    def from_json(cls, text: str) -> list["BatchVideo"]:
        return [cls(video=v["video"], frames=v["frames"], annotation=tuple(v["annotation"]), stamp=v["stamp"],
                    place=v.get("place")) for v in json.loads(text)]


def run_batch(model_type: str, options: Mapping, videos: Sequence[BatchVideo], staging: str | os.PathLike[str],
              record: str | os.PathLike[str], mem_mb: int | None = None, progress: bool = False) -> dict:
    """Segment every video of a batch with one model instance (built on the first video that needs it) into
    ``staging/<video>/``; skip those already staged with their stamp; write ``record`` last.  Returns the record.

    A video that fails with an expected error (a bad frame, :class:`~stseg.errors.StsegError`) does not stop the
    others: they are staged, and the job then fails naming every failed video (no record: a rerun computes only
    those)."""
    from .inference import run_model
    from .models import build_model

    started = time.perf_counter()
    staging = Path(staging)
    code = code_digest(model_type)
    model = None
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    model_seconds = 0.0
    for item in videos:
        folder, stamp_file = staging / item.video, staging / f"{item.video}.stamp"
        stamp = f"{item.stamp} code={code}"
        if folder.is_dir() and stamp_file.is_file() and stamp_file.read_text() == stamp:
            rows.append({"video": item.video, "computed": False, "seconds": 0.0, "load_seconds": 0.0, "frames": None})
            print(f"{model_type}: {item.video} already staged with this stamp: kept", file=sys.stderr, flush=True)
            if item.place is not None:
                take_staged(folder, item.stamp, item.place)
            continue
        stamp_file.unlink(missing_ok=True)
        if model is None:
            load = time.perf_counter()
            model = build_model(model_type, options)
            print(f"{model_type}: model instance built in {time.perf_counter() - load:.2f} s", file=sys.stderr, flush=True)
        try:
            stats = run_model(model_type, options, item.frames, list(item.annotation), folder, progress=progress,
                              mem_mb=mem_mb, model=model)
        except StsegError as error:
            failed.append(f"{item.video}: {error}")
            print(f"{model_type}: {item.video} failed: {error}", file=sys.stderr, flush=True)
            continue
        with atomic_path(stamp_file) as tmp:
            tmp.write_text(stamp)
        if item.place is not None:
            take_staged(folder, item.stamp, item.place)
        rows.append({"video": item.video, "computed": True, "seconds": stats["seconds"],
                     "load_seconds": stats["load_seconds"], "frames": stats["frames"]})
        model_seconds += stats["seconds"] - stats["load_seconds"]
        print(f"{model_type}: {item.video}: {stats['frames']} frames in {stats['seconds']:.2f} s "
              f"({stats['fps']:.1f} frames/s)", file=sys.stderr, flush=True)
    if failed:
        raise BatchError(f"{len(failed)} of {len(videos)} video(s) of the batch failed (the others are kept and "
                         "are not computed again):\n" + "\n".join(failed))
    from .job_record import job_record

    seconds = time.perf_counter() - started
    computed = sum(int(row["frames"]) for row in rows if row["computed"])
    result = {"model_type": model_type, "videos": rows, "seconds": seconds, "model_seconds": model_seconds,
              "resources": job_record(model_type, computed, seconds, {"videos": sum(r["computed"] for r in rows)}),
              "written_ns": time.time_ns()}  # never the bytes of an earlier record
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    return result


def take_staged(staged: str | os.PathLike[str], stamp: str, out: str | os.PathLike[str]) -> int:
    """Put a staged video's folder at ``out`` (a hard link per file, a copy across file systems), atomically, after
    checking that it was made with ``stamp``; the number of files."""
    import shutil

    staged = Path(staged)
    stamp_file = staged.with_name(f"{staged.name}.stamp")
    found = stamp_file.read_text() if stamp_file.is_file() else None
    if not staged.is_dir() or found is None or found.rsplit(" code=", 1)[0] != stamp:
        raise StagingError(
            f"{staged}: not staged from this video's current inputs ({'no stamp' if found is None else 'other stamp'}); "
            "its batch job makes it again: rerun the workflow."
        )
    count = 0
    with atomic_dir(out) as tmp:
        for path in sorted(staged.iterdir()):
            try:
                os.link(path, tmp / path.name)
            except OSError:
                shutil.copy2(path, tmp / path.name)
            count += 1
    return count
