"""The configured models, each checked once when the workflow is parsed: its type, options, weights, interpreter.

A :class:`ModelEntry` holds what the rules need of one model instance (its type and
options, resources, environment, the videos one job runs); :class:`ModelRoster`
holds them all with the voters of ``pgmr.models``.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .config_checks import ConfigError
from .errors import EXTERNAL_MODELS, WEIGHTS_TABLE
from .finetune_runs import flow_id
from .models import OptionError, check_options, get_spec
from .results_layout import ResultsLayout

__all__ = ["ModelEntry", "ModelRoster", "model_entry"]


def model_entry(name: str, entry: Mapping[str, Any], finetune_runs: Mapping[str, Any], layout: ResultsLayout,
                dataset_root: Path | None = None, inference: Mapping[str, Any] | None = None) -> "ModelEntry":
    """One configured model, checked: its type, fine-tune run, interpreter, options, checkpoint, folder, checkout."""
    spec = get_spec(entry.get("type", name))  # unknown type: error listing the known ones
    run = entry.get("finetuned")
    if run is not None and run not in finetune_runs:
        raise ConfigError(f"models.{name}.finetuned names {run!r}, which is not under finetune: ({sorted(finetune_runs)})")
    python = entry.get("python")
    if python is not None and not os.access(python, os.X_OK):
        raise ConfigError(
            f"models.{name}.python: {python} is not an executable Python. Create the model's environment "
            f"({EXTERNAL_MODELS}) or fix the path."
        )
    options = entry.get("options", {}) or {}
    try:
        check_options(spec.name, options, f"models.{name}.options")
    except OptionError as error:
        raise ConfigError(str(error)) from None
    checkpoint = options.get("checkpoint")
    if checkpoint is not None and not spec.external and not Path(checkpoint).expanduser().is_file():
        raise ConfigError(
            f"models.{name}.options.checkpoint: {checkpoint} not found. Download the model's weights "
            f"({WEIGHTS_TABLE}) or fix the path."
        )
    if spec.name == "precomputed":
        folder = options.get("path")
        if folder and ("{" in str(folder) or "}" in str(folder)):
            raise ConfigError(f"models.{name}.options.path: {folder} contains '{{' or '}}', which Snakemake reads as a "
                              "wildcard. Rename the folder (or link to it from a path without braces).")
        if not folder or not Path(folder).expanduser().is_dir():
            raise ConfigError(
                f"models.{name}.options.path: {folder!r} is not a folder. A precomputed model needs the "
                "folder of its masks, <video>/<frame>.png for every video."
            )
    if spec.name == "tmo" and options.get("flow") == "cached" and dataset_root is not None:
        # the flow_images rule's JPEGs of the dataset's videos, the same OpenCV flow the training reads
        options = {**options, "flow": layout.flow(flow_id(dataset_root))}
    if spec.external:
        from .models.upstream import configuration_problem

        problem = configuration_problem(spec.name, options, checkpoint_from_run=run is not None)
        if problem:
            raise ConfigError(f"models.{name}: {problem}")
    if run is not None and finetune_runs[run].get("model", "sam2") != spec.name:
        raise ConfigError(f"models.{name}.finetuned: run {run!r} fine-tunes {finetune_runs[run].get('model', 'sam2')}, "
                          f"not {spec.name}. Name a run of this model type.")
    gpus = int(entry.get("gpus", 1 if spec.gpu else 0))
    inference = inference or {}
    gpu_per_job = inference.get("gpu_videos_per_job") or inference.get("profile_gpu_videos_per_job")
    per_job = entry.get("videos_per_job") or (gpus and gpu_per_job) or inference.get("videos_per_job", 1)
    return ModelEntry(
        name=name, type=spec.name, options=options, external=spec.external, foreground_only=spec.foreground_only,
        baseline=bool(entry.get("baseline", spec.baseline)),
        gpus=gpus, videos_per_job=int(per_job),
        threads=int(entry["threads"]), mem_mb=int(entry["mem_mb"]), runtime=int(entry["runtime"]),
        checkpoint=None if run is None else layout.finetune(run),
        python=python,
    )


@dataclass(frozen=True)
class ModelEntry:
    """One configured model instance (``models.<name>`` in the config), checked."""

    name: str
    type: str
    options: Mapping[str, Any]
    gpus: int
    threads: int
    mem_mb: int
    runtime: int
    #: checkpoint written by a fine-tune run, passed to the model as its ``checkpoint`` option
    checkpoint: str | None = None
    #: interpreter of the model's own environment; None = the workflow's own ``stseg``
    python: str | None = None
    #: runs from an upstream checkout in its own environment (Cutie, XMem, LiVOS, TMO)
    external: bool = False
    #: its masks are foreground only (TMO): split into objects by :mod:`stseg.foreground`
    foreground_only: bool = False
    #: videos one inference job runs with one model load (:mod:`stseg.batching`)
    videos_per_job: int = 1
    #: a weight-free baseline (``models.<name>.baseline``; default: the type's, true for the built-in models)
    baseline: bool = False

    def command(self, source: str) -> str:
        """The shell words that start ``stseg`` for this model's jobs (quoted).

        A model in its own environment (``python``, or an external model's conda
        environment) runs ``python -m stseg.cli`` with ``PYTHONPATH`` set to
        ``source``, the folder holding this workflow's ``stseg`` package: the
        model's environment needs stseg's light dependencies, not stseg itself.
        """
        if self.python is None and not self.external:
            return "stseg"
        return f"env PYTHONPATH={shlex.quote(source)} {shlex.quote(self.python or 'python')} -m stseg.cli"

    @property
    def options_json(self) -> str:
        options = dict(self.options)
        if self.checkpoint is not None:
            options["checkpoint"] = self.checkpoint
        return json.dumps(options, sort_keys=True, separators=(",", ":"))

    def environment(self, basedir: str) -> str:
        """The conda environment of its jobs (``--use-conda``): ``envs/<type>.yaml`` for an external model without
        a ready interpreter (``python``), else stseg's own."""
        name = self.type if self.external and self.python is None else "stseg"
        return os.path.join(basedir, "envs", f"{name}.yaml")

    def weights(self, video: str) -> list[str]:
        """What its job reads besides the frames and annotations, so that new weights rerun it: the weights file
        (fine-tuned or configured); for a precomputed model its folder of masks for the video."""
        if self.type == "precomputed":  # a missing folder is the job's clear error, not a missing input
            folder = os.path.join(os.path.expanduser(self.options["path"]), video)
            return [folder] if os.path.isdir(folder) else []
        weights = self.checkpoint or self.options.get("checkpoint")
        return [] if weights is None else [os.path.expanduser(weights)]

    @property
    def batched(self) -> bool:
        """Whether its jobs run several videos with one model load (:mod:`stseg.batching`)."""
        return self.videos_per_job > 1


@dataclass(frozen=True)
class ModelRoster:
    """Every configured model (config order) and the voters of ``pgmr.models``."""

    entries: Mapping[str, ModelEntry]
    #: ``pgmr.models`` as configured (empty: every model votes)
    chosen_voters: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> ModelEntry:
        return self.entries[name]

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    @property
    def voting(self) -> list[str]:
        """Models whose masks make the pseudo-labels (``pgmr.models``; empty = all), in config order."""
        return [m for m in self.entries if not self.chosen_voters or m in self.chosen_voters]

    @property
    def box_voters(self) -> list[str]:
        """Voting models whose boxes are fused: the object-level ones (a foreground has no objects)."""
        return [m for m in self.voting if not self.entries[m].foreground_only]

    @property
    def baselines(self) -> list[str]:
        """The weight-free baselines (``pgmr.baselines``: the selection's tiers), in config order."""
        return [m for m in self.entries if self.entries[m].baseline]

    @property
    def foreground(self) -> list[str]:
        return [m for m in self.entries if self.entries[m].foreground_only]

    @property
    def batched(self) -> list[str]:
        return [m for m in self.entries if self.entries[m].batched]
