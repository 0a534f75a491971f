"""The plan of a run: what the Snakefile needs at parse time, composed of small parts.

``rules/common.smk`` builds one :class:`Plan` from the validated config.  The
Plan composes the parts a reader looks for by name:

* :class:`~stseg.results_layout.ResultsLayout` (``plan.layout``): every output's path;
* :class:`~stseg.video_inputs.VideoInputs` (``plan.inputs``): each video's frames, annotations and their stamps;
* :class:`~stseg.model_entries.ModelRoster` (``plan.models``): the checked models and the voters;
* :class:`~stseg.finetune_runs.FinetuneRuns` (``plan.finetune``): the fine-tuning runs;
* :class:`~stseg.job_groups.JobGroups`: each batched model's batches (``plan.batches``) and the light stages'
  chunks (``plan.chunks``);
* the typed settings of each stage (``plan.stages``, :mod:`stseg.settings`).

What is left here is what crosses parts: the stamps of a model's job, the videos
of a job, where a job finds a model's masks.  The light stages' command lines are
:class:`~stseg.stage_commands.StageCommands`, the outputs' bookkeeping
:class:`~stseg.video_outputs.VideoOutputs`: both read a plan.  The rules only ask the Plan and its
parts for paths and parameters, through the adapters of :mod:`stseg.rule_inputs`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import settings
from .config_checks import (
    ConfigError,
    Problems,
    check_config_files,
    check_finite,
    check_locations,
    check_names,
    check_precomputed_videos,
    check_voters,
    config_path,
    ensure_demo,
    load_schema,
    validated_videos,
)
from .finetune_runs import FinetuneRuns, check_finetune_runs, flow_id
from .freshness import check_clock, file_stamp
from .job_groups import JobGroups, read_kept, write_kept
from .lifecycle import check_results_folder
from .model_entries import ModelEntry, ModelRoster, model_entry
from .results_layout import ResultsLayout
from .video_inputs import VideoInputs

__all__ = ["ConfigError", "ModelEntry", "Plan", "check_config_files", "ensure_demo", "flow_id", "load_schema"]

#: the key of the light stages' chunks in ``groups.json`` (:mod:`stseg.job_groups`)
STAGES_GROUPS = "stages"


def _user_inputs(inputs: VideoInputs, models: ModelRoster) -> list[str]:
    """The files and folders of the user's that the jobs name as inputs: each video's frames folder, annotations and
    ground truth, each model's weights (a precomputed model's folders)."""
    paths = {path for video in inputs.videos
             for path in (inputs.frames_dir(video), *inputs.given_annotations(video), *inputs.truth_files(video))}
    paths.update(path for entry in models.entries.values() for video in inputs.videos for path in entry.weights(video))
    return sorted(paths)


def _batch_key(model: str) -> str:
    return f"infer/{model}"


@dataclass
class Plan:
    config: Mapping[str, Any]
    layout: ResultsLayout
    inputs: VideoInputs
    models: ModelRoster
    finetune: FinetuneRuns
    #: rule name -> its typed settings (stseg.settings), built once from the validated config
    stages: Mapping[str, Any]
    #: batched model -> its batches
    batches: Mapping[str, JobGroups]
    #: the light stages' chunks (empty: one job per video and stage)
    chunks: JobGroups
    #: invalid video -> its problems (``dataset.on_invalid: skip``)
    invalid: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], read_only: bool = False) -> "Plan":
        """The plan of a validated config; every problem is found before any job runs and reported at once.

        ``read_only``: write nothing (a dry run, a cluster job's parse): the validation caches are read, not written,
        and the results folder's permissions are read, not tried.  The demo dataset is not generated here:
        :func:`ensure_demo` is its own step, called first by the workflow.
        """
        # what every later check builds paths from: refused at once
        root = config_path(config["dataset"]["root"], "dataset.root")
        layout = ResultsLayout(config_path(config["results"], "results"))
        check_results_folder(layout.root)  # a folder stseg did not make: refused before anything is tried there
        check_locations(root, layout.root, try_it=not read_only)
        runs = dict(config.get("finetune", {}) or {})
        check_names(config["models"], runs)
        # the rest: every problem found, then reported together
        problems = Problems()
        problems.check(check_finite, config)
        train_videos = problems.check(check_finetune_runs, runs, Path(layout.state("validated-train")), not read_only) or {}
        inference = {**config.get("inference", {}), "profile_gpu_videos_per_job": config.get("profile_gpu_videos_per_job")}
        entries = {name: problems.check(model_entry, name, entry, runs, layout, root, inference)
                   for name, entry in config["models"].items()}
        pgmr = dict(config.get("pgmr", {}) or {})
        if all(entry is not None for entry in entries.values()):
            problems.check(check_voters, pgmr, {m: e.foreground_only for m, e in entries.items() if e is not None})
        videos = problems.check(validated_videos, config["dataset"], root, Path(layout.state("validated")), not read_only)
        for name, entry in entries.items():  # a precomputed model's masks of every video, before any job runs
            if videos is not None and entry is not None and entry.type == "precomputed":
                problems.check(check_precomputed_videos, name, entry.options["path"], list(videos[0]))
        problems.raise_all()
        assert videos is not None
        valid, invalid = videos
        models = ModelRoster({m: e for m, e in entries.items() if e is not None}, tuple(pgmr.get("models") or ()))
        kept = read_kept(layout.state("groups.json"))
        batches = {m: JobGroups.cut(models[m].type, models[m].videos_per_job, list(valid), kept.get(_batch_key(m)))
                   for m in models.batched}
        per_job = int((config.get("stages") or {}).get("videos_per_job", 1))
        chunks = JobGroups.cut(STAGES_GROUPS, per_job, list(valid), kept.get(STAGES_GROUPS))
        stages: dict[str, Any] = {name: settings.from_config(kind, config) for name, kind in settings.STAGES.items()}
        inputs = VideoInputs(root, valid, config["dataset"].get("ground_truth", "auto"))
        check_clock(_user_inputs(inputs, models), root)  # before any job: Snakemake would fail each at its end
        return cls(config=config, layout=layout, inputs=inputs, models=models,
                   finetune=FinetuneRuns(runs, layout, train_videos), stages=stages, batches=batches, chunks=chunks,
                   invalid=invalid)

    @property
    def results(self) -> Path:
        return self.layout.root

    @property
    def videos(self) -> Mapping[str, Any]:
        return self.inputs.videos

    def keep_groups(self) -> None:
        """Keep the job groups for the next runs (the main Snakemake process only; job steps read them)."""
        path = self.layout.state("groups.json")
        groups = {_batch_key(m): g.record() for m, g in self.batches.items()}
        if self.chunks:
            groups[STAGES_GROUPS] = self.chunks.record()
        if groups or Path(path).is_file():
            write_kept(path, groups)

    def settings_json(self, stage: str) -> str:
        """One stage's settings as the JSON its ``--settings`` argument takes."""
        return settings.to_json(self.stages[stage])

    # --- what a model's job reads ---------------------------------------------------------------
    def raw_masks(self, model: str, video: str) -> str:
        """Where the model's job writes: ``foreground/`` for foreground-only models, else ``masks/``."""
        return self.layout.masks(model, video, foreground=self.models[model].foreground_only)

    def input_stamps(self, model: str, video: str) -> str:
        """The stamps of the folders a model's job reads inside (:mod:`stseg.video_inputs`): the frames and, for a
        ``precomputed`` model, its masks."""
        stamps = [self.inputs.stamp(self.inputs.frames_dir(video))]
        entry = self.models[model]
        if entry.type == "precomputed":
            stamps.append(self.inputs.stamp(str(Path(entry.options["path"]).expanduser() / video)))
        return " ".join(stamps)

    def video_stamp(self, model: str, video: str) -> str:
        """A digest of everything a model's masks of a video depend on: its type and options, the weights file, the
        frames, the annotations (what a staged video is checked against; :mod:`stseg.batching`)."""
        entry = self.models[model]
        parts = [entry.type, entry.options_json, self.input_stamps(model, video)]
        parts += [file_stamp(path, Path(path).name) for path in self.inputs.given_annotations(video)]
        parts += [file_stamp(path) for path in entry.weights(video)]
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:20]

    def model_flow_dirs(self, model: str, video: str) -> list[str]:
        """The cached flow images a ``tmo`` model with ``flow: cached`` reads for a video."""
        flow = str(self.models[model].options.get("flow", ""))
        return [os.path.join(flow, video)] if self._cached_flow(model) else []

    @property
    def flow_roots(self) -> dict[str, Path]:
        """Folder name under ``flow/`` -> the dataset root whose flow images the ``flow_images`` rule writes there:
        each TMO run's training split (``flow: opencv``) and, for a ``tmo`` model with ``flow: cached``, the dataset."""
        roots = self.finetune.flow_roots()
        if any(self._cached_flow(m) for m in self.models.names):
            roots[flow_id(self.inputs.root)] = self.inputs.root
        return roots

    def _cached_flow(self, model: str) -> bool:
        """A ``tmo`` model with ``flow: cached`` (its option points under ``flow/``)."""
        flow = str(self.models[model].options.get("flow", ""))
        return self.models[model].type == "tmo" and flow.startswith(self.layout.flow(""))

    # --- batched inference and the chunked layout (stseg.job_groups) ----------------------------
    def batch_record(self, model: str, video: str) -> str:
        """The record of the batch job that segments ``video``; the per-video ``take`` job waits for it."""
        return self.layout.batch_record(model, self.batches[model].of(video))

    def mask_sources(self, video: str) -> list[str]:
        """:meth:`mask_source` of every model."""
        return [self.mask_source(m, video) for m in self.models.names]

    def batch_videos(self, model: str, batch: str) -> str:
        """The ``--videos`` JSON of a batch job."""
        videos: list[dict[str, Any]] = [
            {"video": v, "frames": self.inputs.frames_dir(v), "annotation": self.inputs.given_annotations(v),
             "stamp": self.video_stamp(model, v)} for v in self.batches[model].videos(batch)]
        if self.chunks:  # no take jobs: the batch job puts each video's masks in place (stseg.chunks)
            for video in videos:
                video["place"] = self.raw_masks(model, video["video"])
        return json.dumps(videos, separators=(",", ":"))

    def mask_source(self, model: str, video: str) -> str:
        """What a chunk job waits for to read a model's masks of a video: the batch job's record for a batched
        model (it puts the masks in place itself in this layout), else the per-video job's folder."""
        return self.batch_record(model, video) if model in self.batches else self.raw_masks(model, video)

    def job_videos(self, wildcards: Mapping[str, str]) -> list[str]:
        """The videos a job works on (none for a dataset-level job): its video, or its batch's or chunk's videos.
        ``wildcards``: a mapping, or Snakemake's wildcards of the job."""
        wildcards = dict(wildcards.items())
        if "video" in wildcards:
            return [wildcards["video"]]
        if "chunk" in wildcards:
            return self.chunks.videos(wildcards["chunk"])
        if "batch" in wildcards and "model" in wildcards:
            return self.batches[wildcards["model"]].videos(wildcards["batch"]) if wildcards["model"] in self.batches else []
        return []

    def job_annotation_stamps(self, wildcards: Mapping[str, str], truth: bool = False) -> str:
        """The annotation stamps of every video of a job (:mod:`stseg.video_inputs`): its parameter."""
        return " ".join(self.inputs.annotation_stamp(v, truth) for v in self.job_videos(wildcards))
