# Dataset-level outputs: the summary tables and the MOSE submission zip.


rule summarize:
    input:
        scores=OUTPUTS.made_by("scores", "refine"),
        outcomes=OUTPUTS.made_by("outcome", "select"),
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
        scores=video_files("scores"),
        outcomes=video_files("outcome"),
        models=MODELS,
        strategy=PLAN.stages["select"].strategy,
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg summarize --scores {params.scores:q} --outcomes {params.outcomes:q} --models {params.models:q}"
        " --strategy {params.strategy:q} --out {output.per_video:q} --overall {output.overall:q} --text {output.text:q} > {log:q} 2>&1"


rule submission:
    input:
        final=OUTPUTS.made_by("final", "select"),
    output:
        f"{RESULTS}/submission.zip",
    params:
        root=lambda wildcards: PATHS.path("final"),
        videos=VIDEOS,
    log:
        f"{RESULTS}/logs/submission.log",
    benchmark:
        f"{RESULTS}/benchmarks/submission.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg submission --final-root {params.root:q} --videos {params.videos:q} --out {output:q} > {log:q} 2>&1"


onstart:
    # one run at a time per results folder, whichever directory Snakemake starts in (dry runs only read)
    RESULTS_LOCK = lock_results(PLAN.results)
    # Snakemake removes a job's outputs before it runs: keep the last good ones until the run ends
    from stseg.freshness import keep_last_good, rescue_last_good

    import time

    rescued = rescue_last_good(PLAN.results)  # a killed run's, whose jobs never finished: not lost
    if rescued:
        print(f"stseg: a killed run left the last good outputs of {len(rescued)} job output(s) that did not finish; "
              f"they are kept in {PLAN.results / 'stale'}/ under their own paths (e.g. {rescued[0]}).", file=sys.stderr)

    PENDING[""] = time.time()
    outputs = []
    for job in workflow.dag.needrun_jobs():
        outputs += job.output
        for video in PLAN.job_videos(job.wildcards):
            PENDING.setdefault(video, []).extend(str(f) for f in job.output)
    LAST_GOOD.extend(keep_last_good(PLAN.results, outputs))


onsuccess:
    from stseg.freshness import settle_last_good
    from stseg.summary import failure_report

    settle_last_good(PLAN.results, LAST_GOOD, failed=False)

    if not len(failure_report(RESULTS, VIDEOS, [])):  # every video complete: an earlier run's failures are fixed
        Path(f"{RESULTS}/failed.csv").unlink(missing_ok=True)
        shutil.rmtree(f"{RESULTS}/stale", ignore_errors=True)  # what an earlier failing run set aside is rewritten
    summary = Path(f"{RESULTS}/summary.txt")
    if summary.exists():
        from stseg.summary import where_to_look

        print(f"{summary.read_text()}\n{where_to_look(RESULTS, workflow.overwrite_configfiles or ())}", end="")


onerror:
    # Say which videos failed in this run (from Snakemake's own log), where and why, and which did not finish.
    from stseg.summary import failed_job_logs, failure_report, format_failures
    from stseg.tables import write_table

    from stseg.freshness import described_videos, set_aside_stale, settle_last_good

    failures = failure_report(RESULTS, VIDEOS, failed_job_logs(log), OUTPUTS.selection_inputs, left_undone, OUTPUTS.shared_logs)
    if len(failures):
        print(format_failures(failures, len(VIDEOS)), end="", file=sys.stderr)
        try:
            write_table(failures, f"{RESULTS}/failed.csv")
        except OSError as error:  # a full disk: the report above is all there is
            print(f"stseg: could not write {RESULTS}/failed.csv ({error}); the report above is complete.", file=sys.stderr)
    # the last good outputs of the jobs that did not finish: in stale/ with their paths, not lost
    restored = settle_last_good(PLAN.results, LAST_GOOD, failed=True)
    if restored:
        print(f"stseg: the last good outputs of {len(restored)} job output(s) that did not finish are kept in "
              f"{PLAN.results / 'stale'}/ under their own paths (e.g. {max(restored, key=lambda p: len(p.parts))}).", file=sys.stderr)
    # the summary, zip and report must not describe masks this run removed or replaced: moved aside, not deleted
    described = described_videos(PLAN.results / "summary.csv", PLAN.results / "submission.zip")
    stale = set_aside_stale(PATHS.dataset_outputs, described, OUTPUTS.of_video, PLAN.results / "stale")
    if stale:
        print(f"stseg: moved {len(stale)} output(s) that described earlier masks to {PLAN.results / 'stale'}/ "
              f"({', '.join(p.name for p in stale)}); a complete run writes them again.", file=sys.stderr)


rule overlay:
    input:
        frames=per_video(DATA.frames_dir),
        masks=per_video(COMMANDS.masks_of, MODELS),
        pseudo=f"{RESULTS}/pseudo/{{video}}",
        final=f"{RESULTS}/final/{{video}}",
        fused=f"{RESULTS}/fused/{{video}}.csv",
        scores=f"{RESULTS}/scores/{{video}}.csv",
        selection=f"{RESULTS}/selection/{{video}}.csv",
        gt=truth_files,
    output:
        full=f"{RESULTS}/report/overlays/{{video}}.png",
        small=report(
            f"{RESULTS}/report/overlays/{{video}}.jpg",
            caption="../report/overlay.rst",
            category="Videos",
            labels={"video": "{video}"},
        ),
    params:
        annotations=annotation_stamps(truth=True),
        masks=per_video(COMMANDS.pairs_of, MODELS),
        strategy=PLAN.stages["select"].strategy,
        gt=truth_args,
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
        f"{RESULTS}/summary.csv",
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
        "stseg scores-plot --summary {input:q} --models {params.models:q} --out {output:q} > {log:q} 2>&1"


rule calibration:
    input:
        f"{RESULTS}/summary.csv",
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
        "stseg calibration --summary {input:q} --models {params.models:q} --out {output.plot:q}"
        " --table {output.table:q} > {log:q} 2>&1"


# The report's first page (included by report/workflow.rst): pooled and per-video tables, calibration figure.
rule report_summary:
    input:
        summary=f"{RESULTS}/summary.csv",
        overall=f"{RESULTS}/summary_overall.csv",
        calibration=calibration_figure,
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
        " --strategy {params.strategy:q} --out {output:q} > {log:q} 2>&1"
