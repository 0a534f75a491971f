"""Where every output lives in the results folder: the one place a reader opens to find any path.

``<results>/``:

* ``masks/<model>/<video>/`` (``foreground/`` for a foreground-only model's own masks), ``pseudo/<video>/``,
  ``final/<video>/``: per-frame PNGs;
* ``<stage>/<video>.csv`` for the tables ``boxes``, ``fused``, ``weights``, ``scores``, ``selection``,
  ``outcome``; ``prior.csv``; ``summary.csv``, ``summary_overall.csv``, ``summary.txt``, ``submission.zip``;
  ``report/`` (``overlays/<video>.png`` and ``.jpg``, ``scores.png``, ``calibration.png``, ``summary.html``);
* ``batches/<model>/<batch>.json`` (a batch job's record), ``batches/<model>/videos/<video>/`` (its staged
  masks), ``batches/<model>/requests/<video>.stamp``; ``chunks/<stage>/<chunk>.json`` (a chunk job's record);
* ``finetune/<run>/checkpoint.pt``, ``flow/<root id>/<video>/``;
* ``logs/<rule>/...``, ``benchmarks/<rule>/...``;
* ``.stseg/``: the workflow's own state (the lock, the validation caches, the kept job groups, the chunk jobs'
  steps, the GPU locks, the last good outputs while a run lasts); ``stale/``: outputs set aside, never deleted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ResultsLayout", "TABLES", "FOLDERS"]

#: the per-video tables, ``<stage>/<video>.csv``
TABLES = ("boxes", "fused", "weights", "scores", "selection", "outcome")
#: the per-video folders of per-frame PNGs besides the models' masks, ``<stage>/<video>/``
FOLDERS = ("pseudo", "final")
#: the outputs that describe every video at once
DATASET_OUTPUTS = ("summary.csv", "summary_overall.csv", "summary.txt", "submission.zip", "report/summary.html",
                   "report/scores.png", "report/calibration.png")


@dataclass(frozen=True)
class ResultsLayout:
    """The paths of one results folder (module docstring); every method returns a path as a string."""

    root: Path

    def path(self, *parts: str) -> str:
        return str(self.root.joinpath(*parts))

    def masks(self, model: str, video: str, foreground: bool = False) -> str:
        """A model's masks of a video (``foreground``: a foreground-only model's own, before the split)."""
        return self.path("foreground" if foreground else "masks", model, video)

    def table(self, stage: str, video: str) -> str:
        if stage not in TABLES:
            raise ValueError(f"{stage!r} is not a per-video table ({TABLES})")
        return self.path(stage, f"{video}.csv")

    def folder(self, stage: str, video: str) -> str:
        if stage not in FOLDERS:
            raise ValueError(f"{stage!r} is not a per-video folder ({FOLDERS})")
        return self.path(stage, video)

    def overlay(self, video: str, ext: str) -> str:
        return self.path("report", "overlays", f"{video}.{ext}")

    @property
    def prior(self) -> str:
        return self.path("prior.csv")

    @property
    def dataset_outputs(self) -> list[Path]:
        """The outputs that describe every video at once: the summary, the zip, the report's figures and page."""
        return [self.root / name for name in DATASET_OUTPUTS]

    def batch_record(self, model: str, batch: str) -> str:
        return self.path("batches", model, f"{batch}.json")

    def request(self, model: str, video: str) -> str:
        """The file holding a batched video's stamp (the ``request`` rule's output)."""
        return self.path("batches", model, "requests", f"{video}.stamp")

    def staging(self, model: str) -> str:
        """The folder of a batched model's staged videos (``<video>/`` and ``<video>.stamp``)."""
        return self.path("batches", model, "videos")

    def staged(self, model: str, video: str) -> str:
        return os.path.join(self.staging(model), video)

    def chunk_record(self, stage: str, chunk: str) -> str:
        """What a chunk job of ``stage`` (``refine``, ``select``) writes last: what Snakemake sees of it."""
        return self.path("chunks", stage, f"{chunk}.json")

    def steps_file(self, stage: str, chunk: str) -> str:
        """Where the main process keeps a chunk job's steps (too long for a command line)."""
        return self.state("steps", stage, f"{chunk}.json")

    def finetune(self, run: str, name: str = "checkpoint.pt") -> str:
        return self.path("finetune", run, name)

    def flow(self, root_id: str, video: str = "") -> str:
        """The ``flow_images`` rule's folder of a dataset root (``flow/<root id>/``), or of one video in it."""
        return self.path("flow", root_id, video) if video else self.path("flow", root_id)

    def state(self, *parts: str) -> str:
        """The workflow's own state, ``.stseg/...``."""
        return self.path(".stseg", *parts)
