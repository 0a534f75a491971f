"""What the Snakefile needs at parse time: the resolved config, the videos and the models.

``rules/common.smk`` builds one :class:`Plan` from the validated config; rules
only ask it for paths and parameters, so the rule files stay declarative and the
logic here is unit-tested like the rest of the package.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import yaml

from . import settings
from .batching import assign_batches, read_assignment, write_assignment
from .chunks import CHUNK_STAGES, Step, steps_digest, video_steps
from .dataset import DatasetError, VideoInfo, list_videos, validate_dataset
from .errors import EXTERNAL_MODELS, WEIGHTS_TABLE, StsegError
from .files import write_if_changed
from .freshness import folder_stamp
from .models import OptionError, check_options, get_spec
from .names import RULE, name_problem

__all__ = ["ConfigError", "ModelEntry", "Plan", "check_config_files", "check_finite", "ensure_demo", "load_schema", "lock_results"]

SCHEMA = Path(__file__).with_name("schemas") / "config.schema.yaml"
T = TypeVar("T")


class ConfigError(StsegError, ValueError):
    """A config that passes the schema but names something that does not exist; the message says which."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"{node.start_mark.name}: the key {key!r} is given twice in one mapping (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1}); YAML would keep the last silently. Keep one of them; nothing was run."
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


class Problems:
    """The config's problems found at parse time, gathered so that one run reports them all."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, step: Callable[..., T], *args: Any) -> T | None:
        """``step(*args)``, or None with its expected error (:class:`StsegError`) kept."""
        try:
            return step(*args)
        except StsegError as error:
            self.found.append(str(error))
            return None

    def raise_all(self) -> None:
        if len(self.found) == 1:
            raise ConfigError(self.found[0])
        if self.found:
            listed = "\n".join(f"- {problem}" for problem in self.found)
            raise ConfigError(f"{len(self.found)} problems in the config or the data; nothing was run:\n{listed}")


def check_config_files(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse config files with a duplicated key (Snakemake reads them with plain YAML)."""
    for path in paths:
        with open(path) as handle:
            yaml.load(handle, Loader=_UniqueKeyLoader)


class ResultsInUseError(ConfigError):
    """Another run holds the results folder's lock."""


def lock_results(results: Path) -> Any:
    """Hold an exclusive lock on the results folder for this process's life (``<results>/.stseg/lock``).

    Snakemake locks its working directory, not the output folder: two runs started
    from different directories on one results folder would run every job twice.
    The lock is an advisory ``flock``; the file records who holds it.  Returns the
    open file, which must stay referenced for as long as the run lasts.
    """
    import fcntl

    path = results / ".stseg" / "lock"
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


def check_finite(config: Any, key: str = "") -> None:
    """Refuse NaN and infinities anywhere in the config (JSON-schema bounds let NaN through)."""
    if isinstance(config, Mapping):
        for name, value in config.items():
            check_finite(value, f"{key}.{name}" if key else str(name))
    elif isinstance(config, (list, tuple)):
        for index, value in enumerate(config):
            check_finite(value, f"{key}[{index}]")
    elif isinstance(config, float) and not math.isfinite(config):
        raise ConfigError(f"{key}: {config} is not a finite number. Give a number; nothing was run.")


def load_schema() -> Path:
    """Path of the config's JSON schema (YAML), for ``snakemake.utils.validate``."""
    return SCHEMA


def check_writable(results: Path) -> None:
    """Refuse a results folder this user cannot write, before any job runs (nothing is lost)."""
    existing = results.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable = existing.is_dir()
    if writable:  # try it: permission bits say nothing for root, nor for read-only mounts
        try:
            handle, probe = tempfile.mkstemp(prefix=".stseg-write-test-", dir=existing)
        except OSError:
            writable = False
        else:
            os.close(handle)
            os.unlink(probe)
    if not writable:
        raise ConfigError(
            f"results: {existing} is not a folder this user can write"
            f"{' (the results folder would be created inside it)' if existing != results.absolute() else ''}. "
            "Choose another 'results:' folder in the config or fix its permissions; nothing was run."
        )


def config_path(value: str, key: str) -> Path:
    """A folder named in the config: ``~`` expanded (as a shell would; never a folder literally named ``~``), an
    empty value refused."""
    if not str(value).strip():
        raise ConfigError(f"{key}: the path is empty. Give a folder (e.g. {key}: results); nothing was run.")
    return Path(value).expanduser()


def ensure_demo(config: Mapping[str, Any]) -> None:
    """Generate the embedded demo dataset at ``dataset.root`` when ``dataset.demo`` is set and the folder is absent."""
    root = config_path(config["dataset"]["root"], "dataset.root")
    if not root.exists() and config["dataset"].get("demo", False):
        from .demo import write_demo

        print(f"stseg: generating the demo dataset in {root} ...", file=sys.stderr)
        write_demo(root)


def check_locations(root: Path, results: Path) -> None:
    """The results folder lies outside the dataset and can be written."""
    if results.resolve() == root.resolve() or root.resolve() in results.resolve().parents:
        raise ConfigError(
            f"results: {results} lies inside the dataset folder {root}; the next run would read the results as "
            "part of the dataset. Choose a 'results:' folder outside dataset.root; nothing was run."
        )
    check_writable(results)


def check_names(models: Mapping[str, Any], finetune_runs: Mapping[str, Any]) -> None:
    """Model and fine-tune run names follow the one name rule (:mod:`stseg.names`)."""
    for kind, names in (("models", models), ("finetune", finetune_runs)):
        for name in names:
            problem = name_problem(name)
            if problem:
                raise ConfigError(f"{kind}: the name {name[:60]!r} cannot be used: {problem}; {RULE}. "
                                  f"Rename it under '{kind}:' in the config; nothing was run.")


def flow_id(root: str | os.PathLike[str]) -> str:
    """The folder name under ``<results>/flow/`` of a dataset root's flow images (one per root: a split used for
    both TMO's training and inference has its flow computed once)."""
    import hashlib

    return "root-" + hashlib.sha1(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:10]


def model_entry(name: str, entry: Mapping[str, Any], finetune_runs: Mapping[str, Any], results: Path,
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
        if not folder or not Path(folder).expanduser().is_dir():
            raise ConfigError(
                f"models.{name}.options.path: {folder!r} is not a folder. A precomputed model needs the "
                "folder of its masks, <video>/<frame>.png for every video."
            )
    if spec.name == "tmo" and options.get("flow") == "cached" and dataset_root is not None:
        # the flow_images rule's JPEGs of the dataset's videos, the same OpenCV flow the training reads
        options = {**options, "flow": str(results / "flow" / flow_id(dataset_root))}
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
        gpus=gpus, videos_per_job=int(per_job),
        threads=int(entry["threads"]), mem_mb=int(entry["mem_mb"]), runtime=int(entry["runtime"]),
        checkpoint=None if run is None else str(results / "finetune" / run / "checkpoint.pt"),
        python=python,
    )


def check_finetune_runs(runs: Mapping[str, Mapping[str, Any]], results: Path) -> dict[str, tuple[str, ...]]:
    """Each fine-tune run checked before any job runs; the training videos of each TMO run.

    SAM2: its initial checkpoint.  TMO: the checkout (``repo`` or ``$STSEG_TMO_REPO``), an initial checkpoint or
    ``random_init``, a training split whose videos have every frame annotated, and, for a folder of flow images,
    one image per frame.
    """
    videos: dict[str, tuple[str, ...]] = {}
    problems = Problems()
    for run, entry in runs.items():
        found = problems.check(_check_finetune_run, run, entry, results)
        if found is not None:
            videos[run] = found
    problems.raise_all()
    return videos


def _check_finetune_run(run: str, entry: Mapping[str, Any], results: Path) -> tuple[str, ...]:
    """One fine-tune run (:func:`check_finetune_runs`); its training videos (TMO) or ()."""
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
    valid, invalid = validate_dataset(root, names, results / ".stseg" / "validated-train" / run)
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


def check_voters(pgmr: Mapping[str, Any], models: Mapping[str, "ModelEntry"]) -> None:
    """``pgmr.models`` names configured models, at least one segments objects, and ``min_votes`` can be reached."""
    unknown = sorted(set(pgmr.get("models", []) or []) - set(models))
    if unknown:
        raise ConfigError(f"pgmr.models names {unknown}, which are not under models: ({sorted(models)})")
    chosen = pgmr.get("models") or list(models)
    box_voters = [m for m in chosen if not models[m].foreground_only]
    if not box_voters:
        raise ConfigError(
            f"pgmr.models ({chosen}) has only foreground-only models; the fused boxes need at least one model "
            "that segments the annotation's objects."
        )
    if int(pgmr["min_votes"]) > len(box_voters):
        raise ConfigError(
            f"pgmr.min_votes is {pgmr['min_votes']} but only {len(box_voters)} model(s) vote for the fused boxes "
            f"({box_voters}); no object could ever be kept. Lower pgmr.min_votes or add voting models."
        )


def validated_videos(dataset: Mapping[str, Any], root: Path, results: Path) -> tuple[dict[str, VideoInfo], dict[str, str]]:
    """The dataset's videos, validated (cached under the results folder); invalid ones refused or skipped."""
    names = list_videos(root, dataset.get("videos") or None, dataset.get("video_list"))
    valid, invalid = validate_dataset(root, names, results / ".stseg" / "validated")
    if invalid and dataset["on_invalid"] == "error":
        details = "\n".join(f"[{video}]\n{problem}" for video, problem in invalid.items())
        raise DatasetError(
            f"{len(invalid)} of {len(names)} video(s) in {root} are invalid (set dataset.on_invalid: skip "
            f"to run the others):\n{details}"
        )
    for video, problem in invalid.items():
        print(f"stseg: skipping invalid video {video!r}:\n  {problem}", file=sys.stderr)
    if not valid:
        raise DatasetError(f"{root}: no valid video to process.")
    return valid, invalid


def batches_file(results: Path) -> Path:
    """Where the batch assignment of every batched model is kept between runs (:mod:`stseg.batching`)."""
    return results / ".stseg" / "batches.json"


def chunks_file(results: Path) -> Path:
    """Where the chunk assignment of the light stages is kept between runs (:mod:`stseg.chunks`)."""
    return results / ".stseg" / "chunks.json"


def chunk_assignment(per_job: int, videos: Sequence[str], results: Path) -> dict[str, list[str]]:
    """The chunks of the light stages (``stages.videos_per_job`` > 1; none otherwise): the kept assignment changed
    as little as possible, as for batches."""
    if per_job <= 1:
        return {}
    previous = read_assignment(chunks_file(results))
    same = previous.get("per_job") == per_job
    return assign_batches(videos, per_job, previous.get("chunks") if same else None)


def batch_assignment(models: Mapping[str, "ModelEntry"], videos: Sequence[str], results: Path) -> dict[str, dict[str, list[str]]]:
    """Each batched model's batches: the kept assignment changed as little as possible (stseg.batching)."""
    kept = read_assignment(batches_file(results))
    out = {}
    for name, entry in models.items():
        if entry.videos_per_job <= 1:
            continue
        previous = kept.get(name, {})
        same = previous.get("per_job") == entry.videos_per_job and previous.get("type") == entry.type
        out[name] = assign_batches(videos, entry.videos_per_job, previous.get("batches") if same else None)
    return out


@dataclass(frozen=True)
class ModelEntry:
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


@dataclass
class Plan:
    config: Mapping[str, Any]
    root: Path
    results: Path
    videos: dict[str, VideoInfo]
    invalid: dict[str, str]
    models: dict[str, ModelEntry]
    pgmr: Mapping[str, Any] = field(default_factory=dict)
    finetune: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: TMO fine-tune run -> its training videos
    train_videos: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: rule name -> its typed settings (stseg.settings), built once from the validated config
    stages: Mapping[str, Any] = field(default_factory=dict)
    #: batched model -> batch name -> its videos (stseg.batching; models with videos_per_job > 1 only)
    batches: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)
    #: chunk name -> its videos (stseg.chunks; stages.videos_per_job > 1 only: the chunked layout)
    chunks: Mapping[str, list[str]] = field(default_factory=dict)
    _stamps: dict[str, str] = field(default_factory=dict, repr=False)
    _chunk_index: dict[str, str] = field(default_factory=dict, repr=False)
    _steps: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _batch_index: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Plan":
        """The plan of a validated config, checked in named steps; each raises a clear error before any job runs.

        The demo dataset is not generated here: :func:`ensure_demo` is its own step, called first by the workflow.
        """
        # what every later check builds paths from: refused at once
        root = config_path(config["dataset"]["root"], "dataset.root")
        results = config_path(config["results"], "results")
        check_locations(root, results)
        finetune_runs = dict(config.get("finetune", {}) or {})
        check_names(config["models"], finetune_runs)
        # the rest: every problem found, then reported together
        problems = Problems()
        problems.check(check_finite, config)
        train_videos = problems.check(check_finetune_runs, finetune_runs, results) or {}
        inference = {**config.get("inference", {}), "profile_gpu_videos_per_job": config.get("profile_gpu_videos_per_job")}
        models = {name: entry for name, entry in ((name, problems.check(model_entry, name, entry, finetune_runs, results,
                                                                        root, inference))
                                                  for name, entry in config["models"].items()) if entry is not None}
        pgmr = dict(config.get("pgmr", {}) or {})
        if len(models) == len(config["models"]):
            problems.check(check_voters, pgmr, models)
        videos = problems.check(validated_videos, config["dataset"], root, results)
        problems.raise_all()
        assert videos is not None
        valid, invalid = videos
        stages: dict[str, Any] = {name: settings.from_config(kind, config) for name, kind in settings.STAGES.items()}
        batches = batch_assignment(models, list(valid), results)
        chunks = chunk_assignment(int((config.get("stages") or {}).get("videos_per_job", 1)), list(valid), results)
        return cls(config=config, root=root, results=results, videos=valid, invalid=invalid, models=models, pgmr=pgmr,
                   finetune=finetune_runs, train_videos=train_videos, stages=stages, batches=batches, chunks=chunks)

    def keep_batches(self) -> None:
        """Write the batch assignment for the next runs (the main Snakemake process only; job steps read it)."""
        if self.batches or batches_file(self.results).is_file():
            record = {m: {"per_job": self.models[m].videos_per_job, "type": self.models[m].type, "batches": b}
                      for m, b in self.batches.items()}
            write_assignment(batches_file(self.results), record)
        if self.chunks or chunks_file(self.results).is_file():
            per_job = int((self.config.get("stages") or {}).get("videos_per_job", 1))
            write_assignment(chunks_file(self.results), {"per_job": per_job, "chunks": self.chunks})

    # --- batched inference (stseg.batching) ----------------------------------------------------
    def batched(self, model: str) -> bool:
        return model in self.batches

    def batch_of(self, model: str, video: str) -> str:
        if not self._batch_index:  # (model, video) -> batch, built on the first call (every job asks)
            self._batch_index.update({(m, v): name for m, batches in self.batches.items()
                                      for name, members in batches.items() for v in members})
        try:
            return self._batch_index[model, video]
        except KeyError:
            raise KeyError(f"{video} is in no batch of {model}") from None

    def batch_record(self, model: str, video: str) -> str:
        """The record a batch job writes last; the per-video ``take`` job waits for it."""
        return self.batch_record_of(model, self.batch_of(model, video))

    def batch_record_of(self, model: str, batch: str) -> str:
        """``batches/<model>/<batch>.json``: the batch job's record."""
        return self.result("batches", model, f"{batch}.json")

    def shared_logs(self, video: str) -> list[Path]:
        """The logs of the jobs that do ``video`` together with other videos: the batch jobs that segment it (one
        per batched model) and, in the chunked layout, its chunk's jobs."""
        if video not in self.videos:
            return []
        logs = [Path(self.result("logs", "infer_batch", m, f"{self.batch_of(m, video)}.log")) for m in self.batches]
        if self.chunked:
            logs += [Path(self.result("logs", "chunks", stage, f"{self.chunk_of(video)}.log")) for stage in CHUNK_STAGES]
        return logs

    def job_videos(self, rule: str, wildcards: Mapping[str, str]) -> list[str]:
        """The videos a job of ``rule`` works on (none for a dataset-level job): its video, or its batch's or
        chunk's videos."""
        if "video" in wildcards:
            return [wildcards["video"]]
        if "chunk" in wildcards:
            return list(self.chunks.get(wildcards["chunk"], ()))
        if "batch" in wildcards and "model" in wildcards:
            return list(self.batches.get(wildcards["model"], {}).get(wildcards["batch"], ()))
        return []

    # --- the chunked layout of the light stages (stseg.chunks) -------------------------------------
    @property
    def chunked(self) -> bool:
        return bool(self.chunks)

    def chunk_of(self, video: str) -> str:
        if not self._chunk_index:
            self._chunk_index.update({v: name for name, members in self.chunks.items() for v in members})
        return self._chunk_index[video]

    def chunk_record(self, stage: str, chunk: str) -> str:
        """What a chunk job of ``stage`` (``refine``, ``select``) writes last: what Snakemake sees of it."""
        return self.result("chunks", stage, f"{chunk}.json")

    def mask_source(self, model: str, video: str) -> str:
        """What a chunk job waits for to read a model's masks of a video: the batch job's record for a batched
        model (it puts the masks in place itself in this layout), else the per-video job's folder."""
        return self.batch_record(model, video) if self.batched(model) else self.raw_masks(model, video)

    def chunk_outputs(self, stage: str, video: str) -> list[tuple[Path, tuple[str, ...] | None]]:
        """The per-video outputs a chunk job of ``stage`` writes for ``video``, each with the frames a folder holds a
        PNG for (None for a file)."""
        frames = self.videos[video].frames
        if stage == "refine":
            files = [self.result(s, f"{video}.csv") for s in ("boxes", "fused", "weights", "scores")]
            folders = [self.result("masks", m, video) for m in self.foreground_models] + [self.result("pseudo", video)]
        else:
            files = [self.result(s, f"{video}.csv") for s in ("selection", "outcome")]
            files += [self.result("report", "overlays", f"{video}.{ext}") for ext in ("png", "jpg")]
            folders = [self.result("final", video)]
        return [(Path(f), None) for f in files] + [(Path(f), frames) for f in folders]

    def records(self) -> list[tuple[Path, list[tuple[Path, tuple[str, ...] | None]]]]:
        """In the chunked layout, every record with the per-video outputs it owns (stseg.freshness.refresh_records):
        the batched models' batch records and the chunk records."""
        if not self.chunked:
            return []
        out: list[tuple[Path, list[tuple[Path, tuple[str, ...] | None]]]] = []
        for model, batches in self.batches.items():
            for name, members in batches.items():
                frames: list[tuple[Path, tuple[str, ...] | None]] = [
                    (Path(self.raw_masks(model, v)), self.videos[v].frames) for v in members if v in self.videos]
                out.append((Path(self.batch_record_of(model, name)), frames))
        for stage in CHUNK_STAGES:
            for name, members in self.chunks.items():
                owned = [o for v in members if v in self.videos for o in self.chunk_outputs(stage, v)]
                out.append((Path(self.chunk_record(stage, name)), owned))
        return out

    def chunk_steps(self, stage: str, chunk: str) -> str:
        """The steps of a chunk job as JSON: the per-video rules' commands for each of its videos."""
        if (stage, chunk) not in self._steps:
            self._steps[stage, chunk] = Step.to_json([s for v in self.chunks[chunk] for s in video_steps(self, stage, v)])
        return self._steps[stage, chunk]

    def chunk_steps_file(self, stage: str, chunk: str) -> str:
        """Where the main process keeps a chunk job's steps (too long for a command line at 16 videos and more)."""
        return self.result(".stseg", "steps", stage, f"{chunk}.json")

    def chunk_steps_digest(self, stage: str, chunk: str) -> str:
        """The digest of a chunk job's steps: its parameter, so that changed steps rerun it, and what the job checks
        its steps file against."""
        return steps_digest(self.chunk_steps(stage, chunk))

    def keep_chunk_steps(self) -> None:
        """Write every chunk job's steps file whose content changed (the main Snakemake process only)."""
        for stage in CHUNK_STAGES if self.chunked else ():
            for chunk in self.chunks:
                write_if_changed(self.chunk_steps_file(stage, chunk), self.chunk_steps(stage, chunk))

    def request(self, model: str, video: str) -> str:
        """The file holding the video's stamp (the ``request`` rule's output: rerun only when the stamp changes)."""
        return self.result("batches", model, "requests", f"{video}.stamp")

    def staging(self, model: str) -> str:
        """The folder of a batched model's staged videos (``<video>/`` and ``<video>.stamp``)."""
        return self.result("batches", model, "videos")

    def staged(self, model: str, video: str) -> str:
        return os.path.join(self.staging(model), video)

    @property
    def gpu_locks(self) -> str:
        """Where local GPU jobs claim their device (stseg.gpus)."""
        return self.result(".stseg", "gpus")

    def model_weights(self, model: str, video: str) -> list[str]:
        """What a model's job reads besides the frames and annotations, so that new weights rerun it: the weights
        file (fine-tuned or configured); for a precomputed model its folder of masks for the video."""
        entry = self.models[model]
        if entry.type == "precomputed":  # a missing folder is the job's clear error, not a missing input
            folder = os.path.join(os.path.expanduser(entry.options["path"]), video)
            return [folder] if os.path.isdir(folder) else []
        weights = entry.checkpoint or entry.options.get("checkpoint")
        return [] if weights is None else [os.path.expanduser(weights)]

    def video_stamp(self, model: str, video: str) -> str:
        """A digest of everything a model's masks of a video depend on: its type and options, the weights file, the
        frames, the annotations (what a staged video is checked against; stseg.batching)."""
        import hashlib

        entry = self.models[model]
        parts = [entry.type, entry.options_json, self.input_stamps(model, video)]
        for path in [*self.given_annotations(video), *self.model_weights(model, video)]:
            stat = os.stat(path) if os.path.exists(path) else None
            parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{path}:absent")
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:20]

    def batch_videos(self, model: str, batch: str) -> str:
        """The ``--videos`` JSON of a batch job."""
        videos: list[dict[str, Any]] = [
            {"video": v, "frames": self.frames_dir(v), "annotation": self.given_annotations(v),
             "stamp": self.video_stamp(model, v)} for v in self.batches[model][batch]]
        if self.chunked:  # no take jobs: the batch job puts each video's masks in place (stseg.chunks)
            for video in videos:
                video["place"] = self.raw_masks(model, video["video"])
        return json.dumps(videos, separators=(",", ":"))

    def settings_json(self, stage: str) -> str:
        """One stage's settings as the JSON its ``--settings`` argument takes."""
        return settings.to_json(self.stages[stage])

    # --- paths -----------------------------------------------------------------------------
    def frames_dir(self, video: str) -> str:
        return str(self.root / "JPEGImages" / video)

    def annotation_dir(self, video: str) -> str:
        return str(self.root / "Annotations" / video)

    def annotation_files(self, video: str) -> list[str]:
        """Every frame's annotation PNG (for a video with ground truth on every frame)."""
        folder = self.root / "Annotations" / video
        return [str(folder / f"{frame}.png") for frame in self.videos[video].frames]

    def input_stamps(self, model: str, video: str) -> str:
        """The stamps (:func:`stseg.freshness.folder_stamp`) of the frame folder and, for a ``precomputed`` model,
        of its mask folder: what a model's job reads inside folders."""
        stamps = [self._stamp(self.frames_dir(video))]
        entry = self.models[model]
        if entry.type == "precomputed":
            stamps.append(self._stamp(str(Path(entry.options["path"]).expanduser() / video)))
        return " ".join(stamps)

    def annotation_stamp(self, video: str, truth: bool = False) -> str:
        """A digest of the annotation files a job of ``video`` reads (name, size, mtime): the given ones (the first
        frame's and the later ones that introduce objects), and with ``truth`` the whole ``Annotations/<video>``
        folder when the video is scored against it.  A parameter of those jobs: an annotation replaced by one with
        an older mtime (``cp -p``, ``rsync -a``, ``tar``, ``unzip``), which Snakemake's newer-than rule misses,
        changes it, and a changed parameter reruns the job."""
        import hashlib

        parts = []
        for path in self.given_annotations(video):
            stat = os.stat(path) if os.path.exists(path) else None
            parts.append(f"{Path(path).name}:{stat.st_size}:{stat.st_mtime_ns}" if stat else f"{path}:absent")
        if truth and self.has_ground_truth(video):
            parts.append(self._stamp(self.annotation_dir(video)))
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]

    def job_annotation_stamps(self, rule: str, wildcards: Mapping[str, str], truth: bool = False) -> str:
        """:meth:`annotation_stamp` of every video of a job (a video's, a chunk's)."""
        return " ".join(self.annotation_stamp(v, truth) for v in self.job_videos(rule, wildcards))

    def folder_outputs(self) -> list[tuple[Path, tuple[str, ...]]]:
        """Every per-video folder output of the workflow, with the frames it holds a PNG for."""
        folders = []
        for video, info in self.videos.items():
            folders += [(Path(self.raw_masks(m, video)), info.frames) for m in self.models]
            folders += [(Path(self.result("masks", m, video)), info.frames) for m in self.foreground_models]
            folders += [(Path(self.result(stage, video)), info.frames) for stage in ("pseudo", "final")]
        return folders

    def selection_inputs(self, video: str) -> list[Path]:
        """What ``video``'s selection is made from: every model's masks, the pseudo-labels, the fused boxes, the
        weights and the scores (none for a video no longer in the dataset)."""
        if video not in self.videos:
            return []
        if self.chunked:  # what Snakemake sees of them: the records (a batched model's) and the folders
            paths = [Path(self.mask_source(m, video)) for m in self.models]
            return paths + [Path(self.chunk_record("refine", self.chunk_of(video)))]
        paths = [Path(self.raw_masks(m, video)) for m in self.models]
        paths += [Path(self.result("masks", m, video)) for m in self.foreground_models]
        paths.append(Path(self.result("pseudo", video)))
        return paths + [Path(self.result(stage, f"{video}.csv")) for stage in ("fused", "weights", "scores")]

    def video_outputs(self, video: str) -> list[Path]:
        """Every per-video intermediate output of ``video``: the selection's inputs, its answer and its outcome."""
        if video not in self.videos:
            return []
        own = [Path(self.result("final", video)), Path(self.result("outcome", f"{video}.csv"))]
        if self.chunked:
            own.append(Path(self.chunk_record("select", self.chunk_of(video))))
        return [*self.selection_inputs(video), *own]

    @property
    def dataset_outputs(self) -> list[Path]:
        """The outputs that describe every video at once: the summary, the zip, the report's figures and page."""
        names = ["summary.csv", "summary_overall.csv", "summary.txt", "submission.zip", "report/summary.html",
                 "report/scores.png", "report/calibration.png"]
        return [self.results / name for name in names]

    def _stamp(self, folder: str) -> str:
        if folder not in self._stamps:
            self._stamps[folder] = folder_stamp(folder)
        return self._stamps[folder]

    def first_annotation(self, video: str) -> str:
        return str(self.root / "Annotations" / video / f"{self.videos[video].first_frame}.png")

    def given_annotations(self, video: str) -> list[str]:
        """The annotation a video's jobs are given: the first frame's PNG, then each later PNG that introduces an
        object (sparse annotations; :mod:`stseg.annotation`)."""
        folder = self.root / "Annotations" / video
        return [self.first_annotation(video), *(str(folder / f"{f}.png") for f in self.videos[video].appearance_frames)]

    def has_ground_truth(self, video: str) -> bool:
        mode = self.config["dataset"]["ground_truth"]
        if mode == "no":
            return False
        if mode == "yes" and not self.videos[video].fully_annotated:
            raise DatasetError(
                f"{self.annotation_dir(video)}: dataset.ground_truth is 'yes' but not every frame is annotated."
            )
        return self.videos[video].fully_annotated

    def result(self, *parts: str) -> str:
        return str(self.results.joinpath(*parts))

    # --- models --------------------------------------------------------------------------------
    @property
    def model_names(self) -> list[str]:
        return list(self.models)

    @property
    def voting_models(self) -> list[str]:
        """Models whose masks make the pseudo-labels (``pgmr.models``; empty = all), in config order."""
        chosen = self.pgmr.get("models") or []
        return [m for m in self.models if not chosen or m in chosen]

    @property
    def uses_prior(self) -> bool:
        """Whether the selection reads the dataset prior (``prior.csv``): for ``pgmr.prior_margin``, and for the
        fusion's reliabilities (strategies ``fuse`` and ``auto`` with ``pgmr.fuse_reliability: prior``)."""
        select = self.stages["select"]
        return select.prior_margin is not None or (select.strategy in ("fuse", "auto") and select.fuse_reliability == "prior")

    def select_args(self, video: str) -> list[str]:
        """The ``stseg select`` arguments beside the per-video paths every layout gives it: the prior, the voters,
        the frames and the given annotation."""
        prior = ["--prior", self.result("prior.csv")] if self.uses_prior else []
        return [*prior, "--voters", *self.voting_models, "--frames", self.frames_dir(video),
                "--annotation", *self.given_annotations(video)]

    @property
    def box_voters(self) -> list[str]:
        """Voting models whose boxes are fused: the object-level ones (a foreground has no objects)."""
        return [m for m in self.voting_models if not self.models[m].foreground_only]

    @property
    def foreground_models(self) -> list[str]:
        return [m for m in self.models if self.models[m].foreground_only]

    def raw_masks(self, model: str, video: str) -> str:
        """Where the model's job writes: ``foreground/`` for foreground-only models, else ``masks/``."""
        stage = "foreground" if self.models[model].foreground_only else "masks"
        return self.result(stage, model, video)

    # --- fine-tuning -----------------------------------------------------------------------
    def finetune_runs(self, model: str) -> list[str]:
        """The fine-tune runs of one model type (``sam2`` or ``tmo``)."""
        return [run for run, entry in self.finetune.items() if entry.get("model", "sam2") == model]

    def finetune_settings(self, run: str) -> str:
        """The run's settings as JSON for ``stseg finetune`` / ``stseg finetune-tmo`` (resources and the other
        model's keys stripped; a TMO run gets its flow folder)."""
        entry = self.finetune[run]
        if entry.get("model", "sam2") == "sam2":
            drop = {"model", "mem_mb", "runtime", "repo", "random_init", "backbone", "clip_n", "lr", "flow"}
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
        flow = self.finetune[run].get("flow", "opencv")
        return self.result("flow", flow_id(self.finetune[run]["train_root"])) if flow == "opencv" else str(Path(flow).expanduser())

    @property
    def flow_roots(self) -> dict[str, Path]:
        """Folder name under ``flow/`` -> the dataset root whose flow images the ``flow_images`` rule writes there:
        each TMO run's training split (``flow: opencv``) and, for a ``tmo`` model with ``flow: cached``, the dataset."""
        roots = {flow_id(e["train_root"]): Path(e["train_root"]).expanduser() for e in self.finetune.values()
                 if e.get("model", "sam2") == "tmo" and e.get("flow", "opencv") == "opencv"}
        if any(m.type == "tmo" and str(m.options.get("flow", "")).startswith(self.result("flow", ""))
               for m in self.models.values()):
            roots[flow_id(self.root)] = self.root
        return roots

    def flow_dirs(self, run: str) -> list[str]:
        """The flow image folders a TMO run trains on (none when it names a folder of its own)."""
        if self.finetune[run].get("flow", "opencv") != "opencv":
            return []
        return [os.path.join(self.flow_root(run), video) for video in self.train_videos[run]]

    def model_flow_dirs(self, model: str, video: str) -> list[str]:
        """The cached flow images a ``tmo`` model with ``flow: cached`` reads for a video."""
        flow = str(self.models[model].options.get("flow", ""))
        return [os.path.join(flow, video)] if self.models[model].type == "tmo" and flow.startswith(self.result("flow", "")) else []
