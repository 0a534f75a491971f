# Dataset-level outputs: the summary tables and the MOSE submission zip.


SUMMARIZE = dict(
    scores=video_files("scores"),
    outcomes=video_files("outcome"),
    models=MODELS,
    strategy=PLAN.stages["select"].strategy,
)


rule summarize:
    input:
        scores=OUTPUTS.made_by("scores", "refine"),
        outcomes=OUTPUTS.made_by("outcome", "select"),
        stamp=stamp_of("summarize", SUMMARIZE),
    output:
        per_video=report(
            f"{RESULTS}/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "per video and model"},
        ),
        overall=f"{RESULTS}/summary_overall.csv",
        text=f"{RESULTS}/summary.txt",
    params:
        **SUMMARIZE,
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg summarize --scores {params.scores:q} --outcomes {params.outcomes:q} --models {params.models:q}"
        " --strategy {params.strategy:q} --out {output.per_video:q} --overall {output.overall:q} --text {output.text:q} > {log:q} 2>&1"


SUBMISSION = dict(root=lambda wildcards: PATHS.path("final"), videos=VIDEOS)


rule submission:
    input:
        final=OUTPUTS.made_by("final", "select"),
        stamp=stamp_of("submission", SUBMISSION, reads=[lambda wildcards: video_files("final", "")]),
    output:
        f"{RESULTS}/submission.zip",
    params:
        **SUBMISSION,
    log:
        f"{RESULTS}/logs/submission.log",
    benchmark:
        f"{RESULTS}/benchmarks/submission.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg submission --final-root {params.root:q} --videos {params.videos:q} --out {output:q} > {log:q} 2>&1"


# The run's lifecycle (stseg.lifecycle): the lock, the last good outputs, the failure report.
onstart:
    RUN.start(workflow.dag.needrun_jobs(), settings_in_force(workflow))


onsuccess:
    RUN.succeeded(workflow.overwrite_configfiles or ())


onerror:
    RUN.failed(log)


OVERLAY = dict(
    annotations=annotation_stamps(truth=True),
    masks=per_video(COMMANDS.pairs_of, MODELS),
    strategy=PLAN.stages["select"].strategy,
    gt=truth_args,
)


rule overlay:
    input:
        frames=per_video(DATA.frames_dir),
        masks=every_mask,
        pseudo=f"{RESULTS}/pseudo/{{video}}",
        final=f"{RESULTS}/final/{{video}}",
        fused=f"{RESULTS}/fused/{{video}}.csv",
        scores=f"{RESULTS}/scores/{{video}}.csv",
        selection=f"{RESULTS}/selection/{{video}}.csv",
        gt=truth_files,
        stamp=stamp_of("overlay", OVERLAY, reads=[every_mask, pseudo_folder, final_folder]),
    output:
        full=f"{RESULTS}/report/overlays/{{video}}.png",
        small=report(
            f"{RESULTS}/report/overlays/{{video}}.jpg",
            caption="../report/overlay.rst",
            category="Videos",
            labels={"video": "{video}"},
        ),
    params:
        **OVERLAY,
    log:
        f"{RESULTS}/logs/overlay/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/overlay/{{video}}.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg overlay --frames {input.frames:q} --masks {params.masks:q} --pseudo {input.pseudo:q}"
        " --final {input.final:q} --fused {input.fused:q} --scores {input.scores:q} {params.gt:q}"
        " --selection {input.selection:q} --strategy {params.strategy} --out {output.full:q}"
        " --small {output.small:q} > {log:q} 2>&1"


rule scores_plot:
    input:
        summary=f"{RESULTS}/summary.csv",
        stamp=stamp_of("scores_plot", dict(models=MODELS)),
    output:
        report(
            f"{RESULTS}/report/scores.png",
            caption="../report/scores.rst",
            category="Summary",
            labels={"figure": "scores per video"},
        ),
    params:
        models=MODELS,
    log:
        f"{RESULTS}/logs/scores_plot.log",
    benchmark:
        f"{RESULTS}/benchmarks/scores_plot.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg scores-plot --summary {input.summary:q} --models {params.models:q} --out {output:q} > {log:q} 2>&1"


rule calibration:
    input:
        summary=f"{RESULTS}/summary.csv",
        stamp=stamp_of("calibration", dict(models=MODELS)),
    output:
        plot=report(
            f"{RESULTS}/report/calibration.png",
            caption="../report/calibration.rst",
            category="Summary",
            labels={"figure": "calibration"},
        ),
        table=f"{RESULTS}/report/calibration.csv",
    params:
        models=MODELS,
    log:
        f"{RESULTS}/logs/calibration.log",
    benchmark:
        f"{RESULTS}/benchmarks/calibration.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg calibration --summary {input.summary:q} --models {params.models:q} --out {output.plot:q}"
        " --table {output.table:q} > {log:q} 2>&1"


# The report's first page (included by report/workflow.rst): pooled and per-video tables, calibration figure.
rule report_summary:
    input:
        summary=f"{RESULTS}/summary.csv",
        overall=f"{RESULTS}/summary_overall.csv",
        calibration=calibration_figure,
        resources=OUTPUTS.resource_records(),
        stamp=stamp_of("report_summary", dict(calibration=calibration_args, strategy=PLAN.stages["select"].strategy)),
    output:
        report(
            f"{RESULTS}/report/summary.html",
            caption="../report/firstpage.rst",
            category="Summary",
            labels={"table": "did it work?"},
        ),
    params:
        calibration=calibration_args,
        strategy=PLAN.stages["select"].strategy,
    log:
        f"{RESULTS}/logs/report_summary.log",
    benchmark:
        f"{RESULTS}/benchmarks/report_summary.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg report-summary --summary {input.summary:q} --overall {input.overall:q} {params.calibration:q}"
        " --strategy {params.strategy:q} --resources {input.resources:q} --out {output:q} > {log:q} 2>&1"


# The preflight (stseg.preflight): every problem of the config, the data, the weights, the models' environments and
# GPUs, and one frame through each model, before the run's jobs are queued. Asked for by name, it runs each time
# (`snakemake --profile profiles/slurm preflight`: one job where the GPU models' jobs run; docs/scale.md).
rule preflight:
    input:
        stamp=stamp_of("preflight", {"asked at": time.time_ns()}),
    output:
        f"{RESULTS}/preflight.txt",
    params:
        configs=[os.path.abspath(f) for f in (workflow.overwrite_configfiles or workflow.configfiles)],
    log:
        f"{RESULTS}/logs/preflight.log",
    benchmark:
        f"{RESULTS}/benchmarks/preflight.tsv"
    resources:
        gpu=max([MODEL[m].gpus for m in MODELS] + [0]),
        mem_mb=max([MODEL[m].mem_mb for m in MODELS] + [2000]),
        runtime=60,
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg preflight --configfile {params.configs:q} --out {output:q} > {log:q} 2>&1"
