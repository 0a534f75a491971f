# One job per (model, video): run the model and write a palette PNG for every frame.
# A foreground-only model (TMO) writes foreground/<model>/<video>; split_foreground
# (pgmr.smk) turns it into masks/<model>/<video> like every other model's.
# With videos_per_job > 1 (stseg/batching.py) infer_batch runs a batch of videos with one model load and
# take puts each video's folder at the same path, with the same bytes. A video's request (its stamp: what its
# masks depend on) reruns only when that video changes; take waits for its batch without being rerun by it
# (ancient), so a rerun batch job reruns the later stages of its changed videos only.


rule infer:
    input:
        frames=frames_dir,
        annotation=given_annotations,
        weights=model_weights,
        flow=model_flow_dirs,
    output:
        masks=directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
    params:
        annotations=annotation_stamps(),
        stseg=model_command,
        model_type=model_type,
        options=model_options,
        stamps=input_stamps,
        gpu_locks=GPU_LOCKS,
    log:
        f"{RESULTS}/logs/infer/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{model}}/{{video}}.tsv"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime,
        gpu=model_gpus,
    wildcard_constraints:
        model=PER_VIDEO_OBJECT_MODELS,
    conda:
        model_environment
    shell:
        "{params.stseg} infer --model-type {params.model_type:q} --options {params.options:q} --mem-mb {resources.mem_mb}"
        " --gpus {resources.gpu} --gpu-locks {params.gpu_locks:q}"
        " --frames {input.frames:q} --annotation {input.annotation:q} --out {output.masks:q} > {log:q} 2>&1"


rule request:
    output:
        f"{RESULTS}/batches/{{model}}/requests/{{video}}.stamp",
    params:
        stamp=video_stamp,
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


rule infer_batch:
    input:
        requests=batch_requests,
        frames=batch_frames,
        annotation=batch_annotations,
        weights=batch_weights,
        flow=batch_flow_dirs,
    output:
        record=f"{RESULTS}/batches/{{model}}/{{batch}}.json",
    params:
        stseg=model_command,
        model_type=model_type,
        options=model_options,
        videos=batch_videos,
        staging=batch_staging,
        gpu_locks=GPU_LOCKS,
    log:
        f"{RESULTS}/logs/infer_batch/{{model}}/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer_batch/{{model}}/{{batch}}.tsv"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=batch_runtime,
        gpu=model_gpus,
    wildcard_constraints:
        model=BATCHED_MODELS,
        batch=r"\d{5}",
    conda:
        model_environment
    shell:
        "{params.stseg} infer-batch --model-type {params.model_type:q} --options {params.options:q} --mem-mb {resources.mem_mb}"
        " --gpus {resources.gpu} --gpu-locks {params.gpu_locks:q} --videos {params.videos:q} --staging {params.staging:q} --record {output.record:q} --quiet > {log:q} 2>&1"


rule take:
    input:
        record=batch_record,
        request=video_request,
    output:
        masks=directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
    params:
        staged=staged_video,
        stamp=video_stamp,
    log:
        f"{RESULTS}/logs/take/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/take/{{model}}/{{video}}.tsv"
    localrule: True
    wildcard_constraints:
        model=BATCHED_OBJECT_MODELS,
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
        model=BATCHED_FOREGROUND_MODELS,


use rule infer as infer_foreground with:
    output:
        masks=directory(f"{RESULTS}/foreground/{{model}}/{{video}}"),
    log:
        f"{RESULTS}/logs/infer/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{model}}/{{video}}.tsv"
    wildcard_constraints:
        model=PER_VIDEO_FOREGROUND_MODELS,


# SAM 2.1 fine-tuning with the sam2 package's MOSE recipe; a model with `finetuned: <run>` uses its checkpoint.
rule finetune:
    input:
        init=finetune_init,
    output:
        weights=f"{RESULTS}/finetune/{{run}}/checkpoint.pt",
        losses=f"{RESULTS}/finetune/{{run}}/losses.csv",
    params:
        settings=finetune_settings,
        workdir=finetune_workdir,
    log:
        f"{RESULTS}/logs/finetune/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/{{run}}.tsv"
    wildcard_constraints:
        run=SAM2_RUNS,
    threads: 4
    resources:
        gpu=finetune_gpus,
        mem_mb=finetune_mem_mb,
        runtime=finetune_runtime,
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg finetune --settings {params.settings:q} --workdir {params.workdir:q}"
        " --out {output.weights:q} --losses {output.losses:q} > {log:q} 2>&1"


# TMO fine-tuning with TMO's own Trainer (stseg/tmo_finetune.py supplies the MOSE data); a tmo model with
# `finetuned: <run>` uses its checkpoint. Flow images come from flow_images (OpenCV, once per video of a dataset
# root: flow/<root id>/<video>/, read by the training and by tmo models with flow: cached) unless a run names a
# folder of its own (RAFT).
rule flow_images:
    input:
        frames=flow_frames_dir,
    output:
        directory(f"{RESULTS}/flow/{{root}}/{{video}}"),
    params:
        stamp=flow_frames_stamp,
    log:
        f"{RESULTS}/logs/flow/{{root}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/flow/{{root}}/{{video}}.tsv"
    wildcard_constraints:
        root=FLOW_ROOTS,
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg flow --frames {input.frames:q} --out {output:q} > {log:q} 2>&1"


rule finetune_tmo:
    input:
        init=finetune_init,
        flows=tmo_flow_dirs,
    output:
        weights=f"{RESULTS}/finetune/{{run}}/checkpoint.pt",
        losses=f"{RESULTS}/finetune/{{run}}/losses.csv",
    params:
        stseg=tmo_command,
        settings=finetune_settings,
        workdir=finetune_workdir,
    log:
        f"{RESULTS}/logs/finetune/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/{{run}}.tsv"
    wildcard_constraints:
        run=TMO_RUNS,
    threads: 4
    resources:
        gpu=finetune_gpus,
        mem_mb=finetune_mem_mb,
        runtime=finetune_runtime,
    conda:
        "../envs/tmo.yaml"
    shell:
        "{params.stseg} finetune-tmo --settings {params.settings:q} --workdir {params.workdir:q}"
        " --out {output.weights:q} --losses {output.losses:q} > {log:q} 2>&1"
