"""Run one model on one video and write its masks: the body of the ``infer`` rule.

Output (``masks/<model>/<video>/``): one palette PNG per frame, named like the
frame, at the frame's size, with the annotation's palette; frame 0 is the given
annotation itself.  Beside them ``scores.csv`` (frame, object, score) holds the
per-object confidence when the model gives one, and ``probs/<frame>.npz`` its
per-pixel probabilities when it gives them (the model's ``probabilities`` option;
:mod:`stseg.probabilities`).  The folder is written under a
temporary name and renamed when complete (:func:`stseg.files.atomic_dir`).
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from tqdm import tqdm

from .annotation import read_annotation
from .dataset import DatasetError, list_frames, read_frames
from .errors import StsegError
from .files import atomic_dir
from .masks import object_ids, write_label_map
from .models import Propagator, build_model
from .probabilities import PROBS_DIR, write_probabilities

__all__ = ["InsufficientMemoryError", "run_model"]


class InsufficientMemoryError(StsegError, MemoryError):
    """The job's memory (``mem_mb``) is below what the model says it needs for this video."""


def run_model(
    model_type: str,
    options: Mapping[str, Any] | None,
    frame_dir: str | os.PathLike[str],
    annotation: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    mem_mb: int | None = None,
    model: Propagator | None = None,
) -> dict[str, float]:
    """Segment every frame of one video with one model; return timing figures.

    ``annotation``: the first frame's PNG, then any later PNGs that introduce objects (:mod:`stseg.annotation`).
    ``mem_mb``: the job's memory; a model whose estimate exceeds it fails before starting.
    ``model``: an instance of ``model_type`` built with ``options`` to reuse (a batched job's, :mod:`stseg.batching`);
    by default one is built for this video.
    """
    files = list_frames(frame_dir)
    given = read_annotation(annotation)
    labels0, palette = given.labels, given.palette
    first_png = annotation if isinstance(annotation, (str, os.PathLike)) else annotation[0]
    if not object_ids(labels0):
        raise DatasetError(f"{first_png}: the first-frame annotation has no object; nothing to segment.")
    later = given.later_by_index([f.stem for f in files])
    model = model if model is not None else build_model(model_type, options)
    first = next(read_frames(files[:1]))
    if first.shape[:2] != labels0.shape:
        raise DatasetError(
            f"{first_png}: annotation size {labels0.shape[1]}x{labels0.shape[0]} differs from the frame size "
            f"{first.shape[1]}x{first.shape[0]} of {files[0]}."
        )
    need = model.memory_estimate_mb(len(files), *labels0.shape)
    if mem_mb is not None and need is not None and need > mem_mb:
        raise InsufficientMemoryError(
            f"{model_type} needs about {need:.0f} MB for {frame_dir} ({len(files)} frames) but the job has "
            f"mem_mb={mem_mb}. Retries get attempt x mem_mb (snakemake --retries N, set in profiles/slurm); "
            f"or raise models.<name>.mem_mb."
        )
    model.scores, model.probabilities = {}, None  # a reused instance (a batch's) keeps nothing of the previous video
    started, loading = time.perf_counter(), model.load_seconds
    score_rows: list[tuple[str, int, float]] = []
    with atomic_dir(out_dir) as tmp:
        write_label_map(tmp / f"{files[0].stem}.png", labels0, palette)
        bar = tqdm(total=len(files), desc=f"{model_type} {Path(frame_dir).name}", file=sys.stderr,
                   disable=not progress, mininterval=2.0, initial=1)
        written = 1
        for path, labels in zip(files[1:], model.segment_video(files, labels0, later)):
            if labels.shape != labels0.shape:
                raise RuntimeError(f"{model_type} returned a {labels.shape} label map for {path} ({labels0.shape} expected)")
            written += 1
            write_label_map(tmp / f"{path.stem}.png", labels, palette)
            if model.probabilities is not None:
                (tmp / PROBS_DIR).mkdir(exist_ok=True)
                write_probabilities(tmp / PROBS_DIR / f"{path.stem}.npz", model.probabilities)
                model.probabilities = None
            score_rows.extend((path.stem, obj, score) for obj, score in sorted(model.scores.items()))
            bar.update(1)
        bar.close()
        if written != len(files):
            raise RuntimeError(f"{model_type} gave {written} of {len(files)} frames of {frame_dir}")
        if score_rows:
            with open(tmp / "scores.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["frame", "object", "score"])
                writer.writerows((f, o, repr(s)) for f, o, s in score_rows)
    elapsed = time.perf_counter() - started
    loaded = model.load_seconds - loading  # building the network on this video (the first of a batch)
    return {"frames": len(files), "seconds": elapsed, "load_seconds": loaded,
            "fps": (len(files) - 1) / elapsed if elapsed > 0 else float("inf")}
