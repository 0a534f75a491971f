# One job per (model, video): run the model and write a palette PNG for every frame.
# A foreground-only model (TMO) writes foreground/<model>/<video>; split_foreground
# (pgmr.smk) turns it into masks/<model>/<video> like every other model's.
# With videos_per_job > 1 (stseg/batching.py) infer_batch runs a batch of videos with one model load and
# take puts each video's folder at the same path, with the same bytes. A video's request (its stamp: what its
# masks depend on) reruns only when that video changes; take waits for its batch without being rerun by it
# (ancient), so a rerun batch job reruns the later stages of its changed videos only.


# each rule's parameters are one dict, given to `params:` and to its stamp (stseg.stamps; rules/pgmr.smk)
INFER = dict(
    annotations=annotation_stamps(),
    stseg=model_command,
    model_type=per_model(lambda m: MODEL[m].type),
    options=per_model(lambda m: MODEL[m].options_json),
    stamps=per_model_video(PLAN.input_stamps),
    gpu_locks=PATHS.state("gpus"),
)


rule infer:
    input:
        frames=per_video(DATA.frames_dir),
        annotation=given_annotations,
        weights=per_model_video(lambda m, v: MODEL[m].weights(v)),
        flow=per_model_video(PLAN.model_flow_dirs),
        stamp=stamp_of("infer", INFER, makes=[per_model_video(PLAN.raw_masks)]),
    output:
        masks=directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
        record=f"{RESULTS}/resources/{{model}}/{{video}}.json",
    params:
        **INFER,
    log:
        f"{RESULTS}/logs/infer/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{model}}/{{video}}.tsv"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=times_attempt(per_model(lambda m: MODEL[m].runtime)),
        gpu=model_gpus,
    wildcard_constraints:
        model=models_where(foreground=False, batched=False),
    conda:
        model_environment
    shell:
        "{params.stseg} infer --model-type {params.model_type:q} --options {params.options:q} --mem-mb {resources.mem_mb}"
        " --gpus {resources.gpu} --gpu-locks {params.gpu_locks:q}"
        " --frames {input.frames:q} --annotation {input.annotation:q} --out {output.masks:q}"
        " --record {output.record:q} > {log:q} 2>&1"


REQUEST = dict(stamp=per_model_video(PLAN.video_stamp))


rule request:
    input:
        stamp=stamp_of("request", REQUEST),
    output:
        f"{RESULTS}/batches/{{model}}/requests/{{video}}.stamp",
    params:
        **REQUEST,
    log:
        f"{RESULTS}/logs/request/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/request/{{model}}/{{video}}.tsv"
    localrule: True
    wildcard_constraints:
        model=BATCHED_MODELS,
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg stamp --stamp {params.stamp:q} --out {output:q} > {log:q} 2>&1"


INFER_BATCH = dict(
    stseg=model_command,
    model_type=per_model(lambda m: MODEL[m].type),
    options=per_model(lambda m: MODEL[m].options_json),
    videos=per_batch(PLAN.batch_videos),
    staging=per_model(PATHS.staging),
    gpu_locks=PATHS.state("gpus"),
)


rule infer_batch:
    input:
        # the videos' stamp files (none in the chunked layout: no take jobs; the stamps in params rerun the batch)
        requests=[] if PLAN.chunks else over_job_videos(PLAN.job_videos, PATHS.request, with_model=True),
        frames=over_job_videos(PLAN.job_videos, DATA.frames_dir),
        annotation=over_job_videos(PLAN.job_videos, DATA.given_annotations),
        weights=over_job_videos(PLAN.job_videos, lambda m, v: MODEL[m].weights(v), with_model=True, unique=True),
        flow=over_job_videos(PLAN.job_videos, PLAN.model_flow_dirs, with_model=True),
        # in the chunked layout the batch job puts its videos' masks in place: one that lost a frame reruns it
        stamp=stamp_of("infer_batch", INFER_BATCH,
                       makes=[over_job_videos(PLAN.job_videos, PLAN.raw_masks, with_model=True)] if PLAN.chunks else []),
    output:
        record=f"{RESULTS}/batches/{{model}}/{{batch}}.json",
    params:
        **INFER_BATCH,
    log:
        f"{RESULTS}/logs/infer_batch/{{model}}/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer_batch/{{model}}/{{batch}}.tsv"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=times_attempt(lambda wildcards: MODEL[wildcards.model].runtime * len(batch_members(wildcards))),
        gpu=model_gpus,
    wildcard_constraints:
        model=BATCHED_MODELS,
        batch=r"\d{5}",
    conda:
        model_environment
    shell:
        "{params.stseg} infer-batch --model-type {params.model_type:q} --options {params.options:q} --mem-mb {resources.mem_mb}"
        " --gpus {resources.gpu} --gpu-locks {params.gpu_locks:q} --videos {params.videos:q} --staging {params.staging:q} --record {output.record:q} --quiet > {log:q} 2>&1"


TAKE = dict(staged=per_model_video(PATHS.staged), stamp=per_model_video(PLAN.video_stamp))


rule take:
    input:
        record=lambda wildcards: ancient(PLAN.batch_record(wildcards.model, wildcards.video)),
        request=per_model_video(PATHS.request),
        stamp=stamp_of("take", TAKE, makes=[per_model_video(PLAN.raw_masks)]),
    output:
        masks=directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
    params:
        **TAKE,
    log:
        f"{RESULTS}/logs/take/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/take/{{model}}/{{video}}.tsv"
    localrule: True
    wildcard_constraints:
        model=models_where(foreground=False, batched=True),
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg take --staged {params.staged:q} --stamp {params.stamp:q} --out {output.masks:q} > {log:q} 2>&1"


use rule take as take_foreground with:
    output:
        masks=directory(f"{RESULTS}/foreground/{{model}}/{{video}}"),
    log:
        f"{RESULTS}/logs/take/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/take/{{model}}/{{video}}.tsv"
    wildcard_constraints:
        model=models_where(foreground=True, batched=True),


use rule infer as infer_foreground with:
    output:
        masks=directory(f"{RESULTS}/foreground/{{model}}/{{video}}"),
        record=f"{RESULTS}/resources/{{model}}/{{video}}.json",
    log:
        f"{RESULTS}/logs/infer/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{model}}/{{video}}.tsv"
    wildcard_constraints:
        model=models_where(foreground=True, batched=False),


# SAM 2.1 fine-tuning with the sam2 package's MOSE recipe; a model with `finetuned: <run>` uses its checkpoint.
FINETUNE = {  # (a dict literal: Snakemake reads `workdir=` at the start of a line as its directive)
    "settings": per_run(PLAN.finetune.settings_json),
    "workdir": per_run(lambda run: PATHS.finetune(run, "work")),
}


rule finetune:
    input:
        init=per_run(PLAN.finetune.init_checkpoint),
        stamp=stamp_of("finetune", FINETUNE),
    output:
        weights=f"{RESULTS}/finetune/{{run}}/checkpoint.pt",
        losses=f"{RESULTS}/finetune/{{run}}/losses.csv",
    params:
        **FINETUNE,
    log:
        f"{RESULTS}/logs/finetune/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/{{run}}.tsv"
    wildcard_constraints:
        run=name_pattern(PLAN.finetune.of_model("sam2")),
    threads: 4
    resources:
        gpu=per_run(lambda run: PLAN.finetune.resources(run).gpus),
        mem_mb=times_attempt(per_run(lambda run: PLAN.finetune.resources(run).mem_mb)),
        runtime=times_attempt(per_run(lambda run: PLAN.finetune.resources(run).runtime)),
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg finetune --settings {params.settings:q} --workdir {params.workdir:q} --gpus {resources.gpu}"
        " --out {output.weights:q} --losses {output.losses:q} > {log:q} 2>&1"


# TMO fine-tuning with TMO's own Trainer (stseg/tmo_finetune.py supplies the MOSE data); a tmo model with
# `finetuned: <run>` uses its checkpoint. Flow images come from flow_images (OpenCV, once per video of a dataset
# root: flow/<root id>/<video>/, read by the training and by tmo models with flow: cached) unless a run names a
# folder of its own (RAFT).
FLOW_IMAGES = dict(
    stamp=lambda wildcards: DATA.stamp(os.path.join(PLAN.flow_roots[wildcards.root], "JPEGImages", wildcards.video)),
)


rule flow_images:
    input:
        frames=lambda wildcards: os.path.join(PLAN.flow_roots[wildcards.root], "JPEGImages", wildcards.video),
        stamp=stamp_of("flow_images", FLOW_IMAGES),
    output:
        directory(f"{RESULTS}/flow/{{root}}/{{video}}"),
    params:
        **FLOW_IMAGES,
    log:
        f"{RESULTS}/logs/flow/{{root}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/flow/{{root}}/{{video}}.tsv"
    wildcard_constraints:
        root=name_pattern(PLAN.flow_roots),
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg flow --frames {input.frames:q} --out {output:q} > {log:q} 2>&1"


FINETUNE_TMO = {
    # stseg in TMO's environment (python -m stseg.cli with this workflow's package on PYTHONPATH)
    "stseg": f"env PYTHONPATH={shlex.quote(STSEG_SOURCE)} python -m stseg.cli",
    "settings": per_run(PLAN.finetune.settings_json),
    "workdir": per_run(lambda run: PATHS.finetune(run, "work")),
}


rule finetune_tmo:
    input:
        init=per_run(PLAN.finetune.init_checkpoint),
        flows=per_run(PLAN.finetune.flow_dirs),
        stamp=stamp_of("finetune_tmo", FINETUNE_TMO),
    output:
        weights=f"{RESULTS}/finetune/{{run}}/checkpoint.pt",
        losses=f"{RESULTS}/finetune/{{run}}/losses.csv",
    params:
        **FINETUNE_TMO,
    log:
        f"{RESULTS}/logs/finetune/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/{{run}}.tsv"
    wildcard_constraints:
        run=name_pattern(PLAN.finetune.of_model("tmo")),
    threads: 4
    resources:
        gpu=per_run(lambda run: PLAN.finetune.resources(run).gpus),
        mem_mb=times_attempt(per_run(lambda run: PLAN.finetune.resources(run).mem_mb)),
        runtime=times_attempt(per_run(lambda run: PLAN.finetune.resources(run).runtime)),
    conda:
        "../envs/tmo.yaml"
    shell:
        "{params.stseg} finetune-tmo --settings {params.settings:q} --workdir {params.workdir:q}"
        " --out {output.weights:q} --losses {output.losses:q} > {log:q} 2>&1"
