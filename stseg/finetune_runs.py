"""Fine-tuning runs (``finetune:`` in the config): SAM 2.1 with the sam2 package's recipe, TMO with its Trainer.

Each run is checked when the workflow is parsed (its training split, its initial
checkpoint, for TMO its checkout and flow images); :class:`FinetuneRuns` answers
what the ``finetune``, ``finetune_tmo`` and ``flow_images`` rules need.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from .config_checks import ConfigError, Problems, config_path
from .dataset import list_videos, validate_dataset
from .errors import WEIGHTS_TABLE
from .results_layout import ResultsLayout

__all__ = ["FinetuneRuns", "Resources", "check_finetune_runs", "flow_id"]


def flow_id(root: str | os.PathLike[str]) -> str:
    """The folder name under ``<results>/flow/`` of a dataset root's flow images (one per root: a split used for
    both TMO's training and inference has its flow computed once)."""
    return "root-" + hashlib.sha1(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:10]


def check_finetune_runs(runs: Mapping[str, Mapping[str, Any]], cache: Path,
                        write_cache: bool = True) -> dict[str, tuple[str, ...]]:
    """Each fine-tune run checked before any job runs; the training videos of each TMO run.

    SAM2: its initial checkpoint.  TMO: the checkout (``repo`` or ``$STSEG_TMO_REPO``), an initial checkpoint or
    ``random_init``, a training split whose videos have every frame annotated, and, for a folder of flow images,
    one image per frame.
    """
    videos: dict[str, tuple[str, ...]] = {}
    problems = Problems()
    for run, entry in runs.items():
        found = problems.check(_check_finetune_run, run, entry, cache / run, write_cache)
        if found is not None:
            videos[run] = found
    problems.raise_all()
    return videos


def _check_finetune_run(run: str, entry: Mapping[str, Any], cache: Path, write_cache: bool = True) -> tuple[str, ...]:
    """One fine-tune run (:func:`check_finetune_runs`; ``cache``: its validation cache); its training videos (TMO)
    or ()."""
    where = f"finetune.{run}"
    root = config_path(entry["train_root"], f"{where}.train_root")
    init = entry.get("init_checkpoint")
    if entry.get("model", "sam2") == "sam2":
        if not init:
            raise ConfigError(f"{where}: init_checkpoint is required for SAM 2.1 fine-tuning (the release checkpoint "
                              f"of the model size to start from: {WEIGHTS_TABLE}).")
        if not Path(init).expanduser().is_file():
            raise ConfigError(f"{where}.init_checkpoint: {init} not found. Download the SAM 2.1 checkpoint "
                              f"({WEIGHTS_TABLE}) or fix the path.")
        list_videos(root, list(entry.get("videos") or []) or None, key=f"{where}.train_root")
        return ()
    names = list_videos(root, list(entry.get("videos") or []) or None, key=f"{where}.train_root")
    valid, invalid = validate_dataset(root, names, cache, write_cache)
    if invalid:
        video, problem = next(iter(invalid.items()))
        raise ConfigError(f"{where}.train_root: training video {video!r} is invalid:\n{problem}")
    sparse = [v for v, info in valid.items() if not info.fully_annotated]
    if sparse:
        raise ConfigError(f"{where}.train_root: {root}/Annotations/{sparse[0]} does not annotate every frame; TMO is "
                          "trained on every frame's foreground. Use a split with full annotations (MOSE train) "
                          f"or leave such videos out (finetune.{run}.videos).")
    flow = entry.get("flow", "opencv")
    if flow != "opencv":
        for video, info in valid.items():
            missing = [f for f in info.frames if not (Path(flow).expanduser() / video / f"{f}.jpg").is_file()]
            if missing:
                raise ConfigError(f"{where}.flow: {Path(flow) / video / (missing[0] + '.jpg')} is missing "
                                  f"({len(missing)} of {len(info.frames)} frames of {video!r} have no flow "
                                  "image). Give every frame its flow image, or set flow: opencv.")
    from .models.upstream import configuration_problem

    options = {"repo": entry.get("repo"), "checkpoint": entry.get("init_checkpoint"),
               "random_init": entry.get("random_init", False)}
    unready = configuration_problem("tmo", options)
    if unready:
        raise ConfigError(f"{where}: {unready.replace('options.checkpoint', f'{where}.init_checkpoint')}")
    return tuple(valid)


class Resources(NamedTuple):
    """What a run's job asks the scheduler for."""

    gpus: int
    mem_mb: int
    runtime: int  #: minutes


@dataclass(frozen=True)
class FinetuneRuns:
    """The checked runs by name, with each TMO run's training videos."""

    runs: Mapping[str, Mapping[str, Any]]
    layout: ResultsLayout
    #: TMO run -> its training videos
    train_videos: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __getitem__(self, run: str) -> Mapping[str, Any]:
        return self.runs[run]

    def __iter__(self):
        return iter(self.runs)

    def model(self, run: str) -> str:
        return str(self.runs[run].get("model", "sam2"))

    def of_model(self, model: str) -> list[str]:
        """The runs of one model type (``sam2`` or ``tmo``)."""
        return [run for run in self.runs if self.model(run) == model]

    def init_checkpoint(self, run: str) -> list[str]:
        """The run's initial checkpoint (none for a TMO run from random weights)."""
        init = self.runs[run].get("init_checkpoint")
        return [] if init is None else [os.path.expanduser(init)]

    def resources(self, run: str) -> Resources:
        """GPUs, memory (MB) and runtime (minutes) of the run's job (the schema's defaults: 1, 32000, 1440)."""
        entry = self.runs[run]
        return Resources(int(entry.get("gpus", 1)), int(entry.get("mem_mb", 32000)), int(entry.get("runtime", 1440)))

    def settings_json(self, run: str) -> str:
        """The run's settings as JSON for ``stseg finetune`` / ``stseg finetune-tmo`` (resources and the other
        model's keys stripped; a TMO run gets its flow folder)."""
        entry = self.runs[run]
        if self.model(run) == "sam2":
            # gpus: the job's resource, handed to `stseg finetune --gpus` (what Snakemake gives the job, not the config)
            drop = {"model", "mem_mb", "runtime", "repo", "random_init", "backbone", "clip_n", "lr", "flow", "gpus"}
            settings = {k: v for k, v in entry.items() if k not in drop}
        else:
            drop = {"model", "mem_mb", "runtime", "gpus", "size", "num_frames", "max_num_objects", "base_lr",
                    "vision_lr", "deterministic", "flow"}
            settings = {k: v for k, v in entry.items() if k not in drop}
            settings["flow_root"] = self.flow_root(run)
            settings["videos"] = list(self.train_videos[run])
        return json.dumps(settings, sort_keys=True, separators=(",", ":"))

    def flow_root(self, run: str) -> str:
        """Where a TMO run's flow images are: the ``flow_images`` rule's folder of its split, or the configured one."""
        flow = self.runs[run].get("flow", "opencv")
        return self.layout.flow(flow_id(self.runs[run]["train_root"])) if flow == "opencv" else str(Path(flow).expanduser())

    def flow_dirs(self, run: str) -> list[str]:
        """The flow image folders a TMO run trains on (none when it names a folder of its own)."""
        if self.runs[run].get("flow", "opencv") != "opencv":
            return []
        return [os.path.join(self.flow_root(run), video) for video in self.train_videos[run]]

    def flow_roots(self) -> dict[str, Path]:
        """Folder name under ``flow/`` -> the training split whose flow images the ``flow_images`` rule writes
        there (each TMO run with ``flow: opencv``)."""
        return {flow_id(e["train_root"]): Path(e["train_root"]).expanduser() for run, e in self.runs.items()
                if self.model(run) == "tmo" and e.get("flow", "opencv") == "opencv"}
