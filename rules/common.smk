# Config validation, the dataset and model plan, and the small helpers the rules use.
import os
import re
import shlex
import shutil
import sys

from snakemake.utils import validate

from stseg.chunks import CHUNK_STAGES
from stseg.freshness import prepare_last_good, refresh_output_stamps, refresh_records
from stseg.workflow import Plan, ensure_demo, load_schema, lock_results


envvars:
    "PATH",


# Jobs call the `stseg` console command of the Python that runs Snakemake, even when its
# virtual environment is not activated.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

validate(config, schema=str(load_schema()))
ensure_demo(config)  # the embedded demo dataset, generated when dataset.demo is set and the folder is absent
PLAN = Plan.from_config(config)
RESULTS = str(PLAN.results)
GPU_LOCKS = PLAN.gpu_locks  # local GPU jobs claim a device here (stseg.gpus)
VIDEOS = list(PLAN.videos)
MODELS = PLAN.model_names
# a folder output edited in place after a run (a mask rewritten) reruns what reads it, one that lost a
# frame is made again; the main process does this once, not every cluster job's re-parse (stseg.freshness)
if workflow.is_main_process:
    PLAN.keep_batches()  # job steps re-parse with the same assignment
    PLAN.keep_chunk_steps()  # and read their steps from these files (the chunked layout)
    refresh_output_stamps(PLAN.folder_outputs())
    refresh_records(PLAN.records())  # the chunked layout: through the records that own them
    prepare_last_good(RESULTS)
# the outputs this run is about to replace, kept until it ends, and per video the outputs of the jobs it has
# to run (filled in onstart; read by onsuccess and onerror)
LAST_GOOD = []
PENDING = {}


def left_undone(video, before_selection=False):
    """Whether this run had jobs of the video to do that did not finish (an output missing or older than the run);
    with before_selection, only the jobs before its selection count."""
    started = PENDING.get("", 0.0)
    early = tuple(os.path.join(RESULTS, stage, "") for stage in ("masks", "foreground", "boxes", "fused", "pseudo",
                                                                  "weights", "scores", "batches", "chunks/refine"))
    pending = [p for p in PENDING.get(video, ()) if not before_selection or p.startswith(early)]
    return any(not os.path.exists(p) or os.path.getmtime(p) < started for p in pending)
# the folder holding this workflow's `stseg` package: models in their own environment import it from here
STSEG_SOURCE = workflow.basedir


def name_pattern(names):
    """A wildcard constraint matching exactly these names (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


# per-video inference jobs, or batches of videos (inference.videos_per_job > 1) with a per-video take job
FOREGROUND_MODELS = name_pattern(PLAN.foreground_models)
PER_VIDEO_OBJECT_MODELS = name_pattern(m for m in MODELS if m not in PLAN.foreground_models and not PLAN.batched(m))
PER_VIDEO_FOREGROUND_MODELS = name_pattern(m for m in PLAN.foreground_models if not PLAN.batched(m))
BATCHED_MODELS = name_pattern(m for m in MODELS if PLAN.batched(m))
BATCHED_OBJECT_MODELS = name_pattern(m for m in MODELS if PLAN.batched(m) and m not in PLAN.foreground_models)
BATCHED_FOREGROUND_MODELS = name_pattern(m for m in PLAN.foreground_models if PLAN.batched(m))


wildcard_constraints:
    model=name_pattern(MODELS),
    video=r"[^/\\]+",
    run="|".join(re.escape(r) for r in PLAN.finetune) or "no-finetune-run",


SAM2_RUNS = name_pattern(PLAN.finetune_runs("sam2"))
TMO_RUNS = name_pattern(PLAN.finetune_runs("tmo"))
FLOW_ROOTS = name_pattern(PLAN.flow_roots)


def any_ground_truth():
    return any(PLAN.has_ground_truth(video) for video in VIDEOS)


def final_outputs():
    outputs = [f"{RESULTS}/summary.csv", f"{RESULTS}/submission.zip", f"{RESULTS}/report/scores.png",
               f"{RESULTS}/report/summary.html"]
    if any_ground_truth():
        outputs.append(f"{RESULTS}/report/calibration.png")
    if PLAN.chunked:  # the records stand for their videos' outputs, overlays included (stseg.freshness.refresh_records)
        outputs += [PLAN.chunk_record(stage, chunk) for stage in CHUNK_STAGES for chunk in PLAN.chunks]
        outputs += sorted({PLAN.mask_source(m, video) for m in MODELS for video in VIDEOS})
        return outputs
    outputs += [f"{RESULTS}/report/overlays/{video}.jpg" for video in VIDEOS]
    # every per-video intermediate too: one deleted after a run is made again, and what depends on it reruns
    # (Snakemake would otherwise treat it like a temporary file whose consumers are up to date)
    for video in VIDEOS:
        outputs += [f"{RESULTS}/masks/{model}/{video}" for model in MODELS]
        outputs += [PLAN.raw_masks(model, video) for model in PLAN.foreground_models]
        outputs += [f"{RESULTS}/{stage}/{video}.csv" for stage in ("fused", "weights", "scores", "outcome")]
        outputs += [f"{RESULTS}/pseudo/{video}"]
    return outputs


def calibration_figure(wildcards):
    return [f"{RESULTS}/report/calibration.png"] if any_ground_truth() else []


def calibration_args(wildcards):
    return ["--calibration", f"{RESULTS}/report/calibration.png"] if any_ground_truth() else []


def frames_dir(wildcards):
    return PLAN.frames_dir(wildcards.video)


def input_stamps(wildcards):
    """Digests of the folders a model's job reads that Snakemake sees only as one mtime: a frame (or a
    precomputed mask) rewritten in place changes them, and a changed parameter reruns the job."""
    return PLAN.input_stamps(wildcards.model, wildcards.video)


def annotation_stamps(truth=False):
    """The stamps of the annotation files a job reads (stseg.workflow.Plan.annotation_stamp): its parameter."""

    def stamps(wildcards):
        return PLAN.annotation_stamp(wildcards.video, truth)

    return stamps


def chunk_annotation_stamps(stage):
    def stamps(wildcards):
        return PLAN.job_annotation_stamps(f"{stage}_chunk", wildcards, truth=True)

    return stamps


def given_annotations(wildcards):
    """The first frame's annotation and any later ones that introduce objects (stseg.annotation)."""
    return PLAN.given_annotations(wildcards.video)


def model_type(wildcards):
    return PLAN.models[wildcards.model].type


def model_command(wildcards):
    return PLAN.models[wildcards.model].command(STSEG_SOURCE)


def model_environment(wildcards):
    """The conda environment of a model's job (--use-conda): envs/<type>.yaml for an external model
    without a ready interpreter (models.<name>.python), else stseg's own."""
    entry = PLAN.models[wildcards.model]
    name = entry.type if entry.external and entry.python is None else "stseg"
    return os.path.join(workflow.basedir, "envs", f"{name}.yaml")


def model_options(wildcards):
    return PLAN.models[wildcards.model].options_json


def model_threads(wildcards):
    return PLAN.models[wildcards.model].threads


def model_mem_mb(wildcards, attempt):
    return PLAN.models[wildcards.model].mem_mb * attempt


def model_runtime(wildcards, attempt):
    return PLAN.models[wildcards.model].runtime * attempt


def model_gpus(wildcards):
    return PLAN.models[wildcards.model].gpus


def masks_of(models):
    def inputs(wildcards):
        return [f"{RESULTS}/masks/{m}/{wildcards.video}" for m in models]

    return inputs


def mask_pairs(models):
    def pairs(wildcards):
        return [f"{m}={RESULTS}/masks/{m}/{wildcards.video}" for m in models]

    return pairs


def voter_masks(wildcards):
    """The voting models' job outputs (a foreground-only model's raw foreground)."""
    return [PLAN.raw_masks(m, wildcards.video) for m in PLAN.voting_models]


def voter_pairs(wildcards):
    return [f"{m}={PLAN.raw_masks(m, wildcards.video)}" for m in PLAN.voting_models]


def prior_input(wildcards):
    """The dataset prior, when the selection reads it (pgmr.prior_margin, the fusion's reliabilities)."""
    return [f"{RESULTS}/prior.csv"] if PLAN.uses_prior else []


def select_args(wildcards):
    return PLAN.select_args(wildcards.video)


def ground_truth_files(wildcards):
    """Every ground-truth PNG of the video: correcting one reruns the jobs that score against it."""
    if PLAN.has_ground_truth(wildcards.video):
        return PLAN.annotation_files(wildcards.video)
    return []


def ground_truth_args(wildcards):
    if PLAN.has_ground_truth(wildcards.video):
        return ["--gt", PLAN.annotation_dir(wildcards.video)]
    return []


def foreground_args(wildcards):
    args = []
    for model in PLAN.voting_models:
        if PLAN.models[model].foreground_only:
            args += ["--foreground-model", model]
    return args


def settings(stage):
    """The stage's typed settings as one JSON argument (stseg.settings; defaults from the schema)."""
    return PLAN.settings_json(stage)


def final_root(wildcards):
    return PLAN.result("final")


def video_files(stage, suffix=".csv"):
    """Every video's file of a stage (the dataset-level rules' arguments)."""
    return [PLAN.result(stage, f"{video}{suffix}") for video in VIDEOS]


def made_by(stage, chunk_stage):
    """What Snakemake waits for before reading every video's files of a stage: the files themselves, or in the
    chunked layout the chunk records that own them."""
    if PLAN.chunked:
        return [PLAN.chunk_record(chunk_stage, chunk) for chunk in PLAN.chunks]
    return video_files(stage, "" if stage == "final" else ".csv")


# --- the chunked layout (stages.videos_per_job; stseg.chunks) -------------------------------------
def chunk_mask_sources(wildcards):
    return sorted({PLAN.mask_source(m, v) for v in PLAN.chunks[wildcards.chunk] for m in MODELS})


def chunk_frames(wildcards):
    return [PLAN.frames_dir(v) for v in PLAN.chunks[wildcards.chunk]]


def chunk_annotations(wildcards):
    return [a for v in PLAN.chunks[wildcards.chunk] for a in PLAN.given_annotations(v)]


def chunk_ground_truth(wildcards):
    return [f for v in PLAN.chunks[wildcards.chunk] if PLAN.has_ground_truth(v) for f in PLAN.annotation_files(v)]


def chunk_steps_file(stage):
    def steps(wildcards):
        return PLAN.chunk_steps_file(stage, wildcards.chunk)

    return steps


def chunk_steps_digest(stage):
    def digest(wildcards):
        return PLAN.chunk_steps_digest(stage, wildcards.chunk)

    return digest


def model_weights(wildcards):
    """The model's weights file, so that new weights rerun its jobs (fine-tuned or configured); for a
    precomputed model its folder of masks for the video."""
    return PLAN.model_weights(wildcards.model, wildcards.video)


# --- batched inference (inference.videos_per_job; stseg.batching) --------------------------------
def batch_members(wildcards):
    return PLAN.batches[wildcards.model][wildcards.batch]


def batch_requests(wildcards):
    """The videos' stamp files (none in the chunked layout: no take jobs; the stamps in params rerun the batch)."""
    if PLAN.chunked:
        return []
    return [PLAN.request(wildcards.model, v) for v in batch_members(wildcards)]


def video_request(wildcards):
    return PLAN.request(wildcards.model, wildcards.video)


def batch_frames(wildcards):
    return [PLAN.frames_dir(v) for v in batch_members(wildcards)]


def batch_annotations(wildcards):
    return [a for v in batch_members(wildcards) for a in PLAN.given_annotations(v)]


def batch_weights(wildcards):
    return sorted({w for v in batch_members(wildcards) for w in PLAN.model_weights(wildcards.model, v)})


def batch_flow_dirs(wildcards):
    return [d for v in batch_members(wildcards) for d in PLAN.model_flow_dirs(wildcards.model, v)]


def batch_videos(wildcards):
    return PLAN.batch_videos(wildcards.model, wildcards.batch)


def batch_staging(wildcards):
    return PLAN.staging(wildcards.model)


def batch_runtime(wildcards, attempt):
    return PLAN.models[wildcards.model].runtime * len(batch_members(wildcards)) * attempt


def batch_record(wildcards):
    return ancient(PLAN.batch_record(wildcards.model, wildcards.video))


def staged_video(wildcards):
    return PLAN.staged(wildcards.model, wildcards.video)


def video_stamp(wildcards):
    return PLAN.video_stamp(wildcards.model, wildcards.video)


def finetune_init(wildcards):
    """The run's initial checkpoint (none for a TMO run from random weights)."""
    init = PLAN.finetune[wildcards.run].get("init_checkpoint")
    return [] if init is None else [os.path.expanduser(init)]


def tmo_flow_dirs(wildcards):
    """The cached flow images of the run's training videos (none when the run names a folder of its own)."""
    return PLAN.flow_dirs(wildcards.run)


def model_flow_dirs(wildcards):
    """A tmo model's cached flow images of the video (flow: cached), so that they are made first."""
    return PLAN.model_flow_dirs(wildcards.model, wildcards.video)


def flow_frames_dir(wildcards):
    return os.path.join(PLAN.flow_roots[wildcards.root], "JPEGImages", wildcards.video)


def flow_frames_stamp(wildcards):
    from stseg.freshness import folder_stamp

    return folder_stamp(flow_frames_dir(wildcards))


def tmo_command(wildcards):
    """stseg in TMO's environment (python -m stseg.cli with this workflow's package on PYTHONPATH)."""
    return f"env PYTHONPATH={shlex.quote(STSEG_SOURCE)} python -m stseg.cli"


def finetune_settings(wildcards):
    return PLAN.finetune_settings(wildcards.run)


def finetune_workdir(wildcards, output):
    return os.path.join(os.path.dirname(output.weights), "work")


def finetune_gpus(wildcards):
    return int(PLAN.finetune[wildcards.run].get("gpus", 1))


def finetune_mem_mb(wildcards, attempt):
    return int(PLAN.finetune[wildcards.run].get("mem_mb", 32000)) * attempt


def finetune_runtime(wildcards, attempt):
    return int(PLAN.finetune[wildcards.run].get("runtime", 1440)) * attempt
