# Dataset-level outputs: the summary tables and the MOSE submission zip.


rule summarize:
    input:
        scores=expand(f"{RESULTS}/scores/{{video}}.csv", video=VIDEOS),
        outcomes=expand(f"{RESULTS}/selection/{{video}}.outcome.csv", video=VIDEOS),
    output:
        per_video=f"{RESULTS}/summary.csv",
        overall=f"{RESULTS}/summary_overall.csv",
        text=f"{RESULTS}/summary.txt",
    params:
        models=MODELS,
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg summarize --scores {input.scores:q} --outcomes {input.outcomes:q} --models {params.models:q}"
        " --out {output.per_video:q} --overall {output.overall:q} --text {output.text:q} > {log:q} 2>&1"


rule submission:
    input:
        final=expand(f"{RESULTS}/final/{{video}}", video=VIDEOS),
    output:
        f"{RESULTS}/submission.zip",
    params:
        root=final_root,
        videos=VIDEOS,
    log:
        f"{RESULTS}/logs/submission.log",
    benchmark:
        f"{RESULTS}/benchmarks/submission.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg submission --final-root {params.root:q} --videos {params.videos:q} --out {output:q} > {log:q} 2>&1"


onsuccess:
    summary = Path(f"{RESULTS}/summary.txt")
    if summary.exists():
        print(summary.read_text(), end="")
