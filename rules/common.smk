# The plan of the run (stseg.workflow.Plan, built from the validated config) and the names the rules share.
# Input functions come from the plan's parts through the adapters of stseg.rule_inputs: per_video(f) is
# f(wildcards.video) for each job, per_model_video(f) is f(wildcards.model, wildcards.video), and so on.
import os
import re
import shlex
import shutil
import sys

from snakemake.utils import validate

from stseg.chunks import CHUNK_STAGES
from stseg.freshness import prepare_last_good, refresh_output_stamps, refresh_records
from stseg.rule_inputs import (
    over_job_videos,
    per_batch,
    per_chunk,
    per_model,
    per_model_video,
    per_run,
    per_video,
    times_attempt,
)
from stseg.stage_commands import StageCommands
from stseg.video_outputs import VideoOutputs
from stseg.workflow import Plan, ensure_demo, load_schema, lock_results


envvars:
    "PATH",


# Jobs call the `stseg` console command of the Python that runs Snakemake, even when its
# virtual environment is not activated.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

validate(config, schema=str(load_schema()))
ensure_demo(config)  # the embedded demo dataset, generated when dataset.demo is set and the folder is absent
PLAN = Plan.from_config(config)
OUTPUTS, COMMANDS = VideoOutputs(PLAN), StageCommands(PLAN)
PATHS, DATA, MODEL = PLAN.layout, PLAN.inputs, PLAN.models
RESULTS = str(PLAN.results)
VIDEOS = list(PLAN.videos)
MODELS = MODEL.names
# a folder output edited in place after a run (a mask rewritten) reruns what reads it, one that lost a
# frame is made again; the main process does this once, not every cluster job's re-parse (stseg.freshness)
if workflow.is_main_process:
    PLAN.keep_groups()  # job steps re-parse with the same groups
    COMMANDS.keep_steps()  # and the chunk jobs read their steps from these files
    refresh_output_stamps(OUTPUTS.folders())
    refresh_records(OUTPUTS.records())  # the chunked layout: through the records that own them
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


# the models whose masks are made per video or in batches (inference.videos_per_job > 1), object-level or
# foreground-only (TMO: foreground/<model>/<video>, split into objects after the box fusion)
def models_where(foreground, batched):
    return name_pattern(m for m in MODELS if MODEL[m].foreground_only == foreground and MODEL[m].batched == batched)


FOREGROUND_MODELS = name_pattern(MODEL.foreground)
BATCHED_MODELS = name_pattern(MODEL.batched)


wildcard_constraints:
    model=name_pattern(MODELS),
    video=r"[^/\\]+",
    run=name_pattern(PLAN.finetune),


# the model's own resources and environment, per job
model_threads = per_model(lambda m: MODEL[m].threads)
model_gpus = per_model(lambda m: MODEL[m].gpus)
model_mem_mb = times_attempt(per_model(lambda m: MODEL[m].mem_mb))
model_environment = per_model(lambda m: MODEL[m].environment(workflow.basedir))
model_command = per_model(lambda m: MODEL[m].command(STSEG_SOURCE))
batch_members = per_batch(lambda m, b: PLAN.batches[m].videos(b))
# the annotation files a job reads, and their stamps (a parameter: a restored annotation reruns it)
given_annotations = per_video(DATA.given_annotations)
truth_files = per_video(DATA.truth_files)
truth_args = per_video(DATA.truth_args)
calibration_figure = OUTPUTS.calibration  # none without ground truth
calibration_args = ["--calibration", *calibration_figure] if calibration_figure else []


def annotation_stamps(truth=False):
    """The stamps of the annotation files of a job's videos (stseg.video_inputs): its parameter."""
    return lambda wildcards: PLAN.job_annotation_stamps(wildcards, truth)


def video_files(stage, suffix=".csv"):
    """Every video's file of a stage (the dataset-level rules' arguments)."""
    return [PATHS.path(stage, f"{video}{suffix}") for video in VIDEOS]
