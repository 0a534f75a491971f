# The plan of the run (stseg.workflow.Plan, built from the validated config) and the names the rules share.
# Input functions come from the plan's parts through the adapters of stseg.rule_inputs: per_video(f) is
# f(wildcards.video) for each job, per_model_video(f) is f(wildcards.model, wildcards.video), and so on.
import os
import re
import time
import shlex
import shutil
import sys

from snakemake.utils import validate

from stseg.chunks import CHUNK_STAGES
from stseg.lifecycle import RunLifecycle, settings_in_force
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
from stseg.stamps import Stamps, canonical_paths
from stseg.video_outputs import VideoOutputs
from stseg.config_checks import check_schema
from stseg.workflow import Plan, ensure_demo, load_schema


envvars:
    "PATH",


# Jobs call the `stseg` console command of the Python that runs Snakemake, even when its
# virtual environment is not activated.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# every way the config breaks the schema, one line each with its file and line; then the schema's defaults filled in
check_schema(config, workflow.overwrite_configfiles or workflow.configfiles)
validate(config, schema=str(load_schema()))
ensure_demo(config)  # the embedded demo dataset, generated when dataset.demo is set and the folder is absent
# a dry run and a cluster job's parse write nothing (the validation caches are read only)
PLAN = Plan.from_config(config, read_only=not workflow.is_main_process or workflow.output_settings.dryrun)
OUTPUTS, COMMANDS = VideoOutputs(PLAN), StageCommands(PLAN)
PATHS, DATA, MODEL = PLAN.layout, PLAN.inputs, PLAN.models
RESULTS = str(PLAN.results)
VIDEOS = list(PLAN.videos)
MODELS = MODEL.names
# The run's lifecycle (stseg.lifecycle): the main process of a run takes the results lock now, before anything
# can change, then keeps what its jobs read (the job groups, the chunk steps); a dry run and a cluster job's parse
# take none and write nothing in the results folder. Every job's rerun decision is its stamp (stseg.stamps),
# written when the run's jobs are worked out.
RUN = RunLifecycle(PLAN, OUTPUTS)
if not workflow.is_main_process:
    STAMPS = Stamps(PLAN.results, "read")
elif workflow.output_settings.dryrun:
    STAMPS = Stamps(PLAN.results, "dry")
else:
    RUN.take_lock()
    STAMPS = Stamps(PLAN.results, "write")
    PLAN.keep_groups()  # job steps re-parse with the same groups
    COMMANDS.keep_steps()  # and the chunk jobs read their steps from these files


def stamp_of(rule_name, params, reads=(), makes=()):
    """The job's stamp (stseg.stamps) as an input function: what the job depends on (`params`: the rule's own, each
    a value or a function of the wildcards), the workflow outputs it reads that a user edited in place (`reads`:
    functions of the wildcards giving paths), the folders it makes that lost a frame (`makes`: the same)."""

    def job_stamp(wildcards):
        steady = {name: value(wildcards) if callable(value) else value for name, value in params.items()}
        steady = canonical_paths(steady, PLACES)
        volatile = [OUTPUTS.edited(path) for read in reads for path in as_list(read(wildcards))]
        volatile += [OUTPUTS.incomplete(path) for make in makes for path in as_list(make(wildcards))]
        return STAMPS.path(rule_name, wildcards, steady, volatile)

    return job_stamp


# the results folder and the dataset as configured and as absolute paths: a stamp does not depend on the spelling
PLACES = {str(p): name for name, place in (("<results>", PLAN.results), ("<dataset>", DATA.root))
          for p in dict.fromkeys([str(place), os.path.abspath(place), os.path.realpath(place)])}


def as_list(value):
    return value if isinstance(value, list) else [value]


# the folder holding this workflow (its Snakefile, envs/ and the `stseg` package: models in their own environment
# import it from here), also when the Snakefile is used as a module of another workflow (workflow.basedir is then
# the other workflow's folder)
STSEG_SOURCE = os.path.dirname(workflow.current_basedir)


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
model_environment = per_model(lambda m: MODEL[m].environment(STSEG_SOURCE))
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
