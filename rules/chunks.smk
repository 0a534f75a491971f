# The chunked layout (stages.videos_per_job > 1; stseg/chunks.py): the light per-video stages of a chunk of videos
# in one job each, running the per-video rules' own commands in one process and writing the same per-video files.
# Each job's record (chunks/<stage>/<chunk>.json) is what Snakemake sees; a batched model's job puts its masks in
# place itself. The steps are kept in a file by the main process (too long for a command line); their digest is
# the job's parameter, so that a changed step reruns the chunk.


# what a chunk job reads and makes of its videos (the workflow outputs a user may edit, or that may lose a frame)
chunk_masks = over_job_videos(PLAN.job_videos, lambda v: [PLAN.raw_masks(m, v) for m in MODELS])
chunk_refined = over_job_videos(PLAN.job_videos, lambda v: [str(p) for p, _ in OUTPUTS.chunk_outputs("refine", v)])
chunk_selected = over_job_videos(PLAN.job_videos, lambda v: [str(p) for p, _ in OUTPUTS.chunk_outputs("select", v)])
REFINE_CHUNK = dict(
    steps=per_chunk(PATHS.steps_file, "refine"),
    annotations=annotation_stamps(truth=True),
    digest=per_chunk(COMMANDS.chunk_steps_digest, "refine"),
)


rule refine_chunk:
    input:
        masks=over_job_videos(PLAN.job_videos, PLAN.mask_sources, unique=True),
        frames=over_job_videos(PLAN.job_videos, DATA.frames_dir),
        annotation=over_job_videos(PLAN.job_videos, DATA.given_annotations),
        gt=over_job_videos(PLAN.job_videos, DATA.truth_files),
        stamp=stamp_of("refine_chunk", REFINE_CHUNK, reads=[chunk_masks], makes=[chunk_refined]),
    output:
        f"{RESULTS}/chunks/refine/{{chunk}}.json",
    params:
        **REFINE_CHUNK,
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


SELECT_CHUNK = dict(
    steps=per_chunk(PATHS.steps_file, "select"),
    annotations=annotation_stamps(truth=True),
    digest=per_chunk(COMMANDS.chunk_steps_digest, "select"),
)


rule select_chunk:
    input:
        refined=f"{RESULTS}/chunks/refine/{{chunk}}.json",
        masks=over_job_videos(PLAN.job_videos, PLAN.mask_sources, unique=True),
        frames=over_job_videos(PLAN.job_videos, DATA.frames_dir),
        gt=over_job_videos(PLAN.job_videos, DATA.truth_files),
        prior=COMMANDS.prior_input,
        stamp=stamp_of("select_chunk", SELECT_CHUNK, reads=[chunk_masks, chunk_refined], makes=[chunk_selected]),
    output:
        f"{RESULTS}/chunks/select/{{chunk}}.json",
    params:
        **SELECT_CHUNK,
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
