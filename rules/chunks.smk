# The chunked layout (stages.videos_per_job > 1; stseg/chunks.py): the light per-video stages of a chunk of videos
# in one job each, running the per-video rules' own commands in one process and writing the same per-video files.
# Each job's record (chunks/<stage>/<chunk>.json) is what Snakemake sees; a batched model's job puts its masks in
# place itself. The steps are kept in a file by the main process (too long for a command line); their digest is
# the job's parameter, so that a changed step reruns the chunk.


rule refine_chunk:
    input:
        masks=chunk_mask_sources,
        frames=chunk_frames,
        annotation=chunk_annotations,
        gt=chunk_ground_truth,
    output:
        f"{RESULTS}/chunks/refine/{{chunk}}.json",
    params:
        steps=chunk_steps_file("refine"),
        annotations=chunk_annotation_stamps("refine"),
        digest=chunk_steps_digest("refine"),
    log:
        f"{RESULTS}/logs/chunks/refine/{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/chunks/refine/{{chunk}}.tsv"
    wildcard_constraints:
        chunk=r"\d{5}",
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg run-chunk --steps {params.steps:q} --digest {params.digest} --record {output:q} > {log:q} 2>&1"


rule select_chunk:
    input:
        refined=f"{RESULTS}/chunks/refine/{{chunk}}.json",
        masks=chunk_mask_sources,
        frames=chunk_frames,
        gt=chunk_ground_truth,
        prior=prior_input,
    output:
        f"{RESULTS}/chunks/select/{{chunk}}.json",
    params:
        steps=chunk_steps_file("select"),
        annotations=chunk_annotation_stamps("select"),
        digest=chunk_steps_digest("select"),
    log:
        f"{RESULTS}/logs/chunks/select/{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/chunks/select/{{chunk}}.tsv"
    wildcard_constraints:
        chunk=r"\d{5}",
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg run-chunk --steps {params.steps:q} --digest {params.digest} --record {output:q} > {log:q} 2>&1"
