# Pseudo-label guided model refinement: boxes and fusion -> pseudo-labels -> scores -> selection.
# Each rule's parameters are one dict, given to `params:` and to its stamp (stseg.stamps: the job reruns when one
# changes, or when a workflow output it reads was edited in place, or one it makes lost a frame).
voter_masks = per_video(COMMANDS.masks_of, MODEL.box_voters)
every_mask = per_video(COMMANDS.masks_of, MODELS)
pseudo_folder = per_video(lambda video: PATHS.folder("pseudo", video))
final_folder = per_video(lambda video: PATHS.folder("final", video))

FUSE = dict(
    annotations=annotation_stamps(),
    masks=per_video(COMMANDS.pairs_of, MODEL.box_voters),
    settings=PLAN.settings_json("fuse"),
)


# One job per video: every voting model's boxes (boxes/<video>.csv), then their fusion.
rule fuse:
    input:
        masks=voter_masks,
        annotation=given_annotations,
        stamp=stamp_of("fuse", FUSE, reads=[voter_masks]),
    output:
        fused=f"{RESULTS}/fused/{{video}}.csv",
        boxes=f"{RESULTS}/boxes/{{video}}.csv",
    params:
        **FUSE,
    log:
        f"{RESULTS}/logs/fuse/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fuse/{{video}}.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg fuse --masks {params.masks:q} --annotation {input.annotation:q} --settings {params.settings:q}"
        " --boxes-out {output.boxes:q} --out {output.fused:q} > {log:q} 2>&1"


SPLIT = dict(
    annotations=annotation_stamps(),
    masks=per_video(COMMANDS.pairs_of, MODEL.box_voters),
    settings=PLAN.settings_json("split_foreground"),
)


rule split_foreground:
    input:
        foreground=f"{RESULTS}/foreground/{{model}}/{{video}}",
        masks=voter_masks,
        fused=f"{RESULTS}/fused/{{video}}.csv",
        annotation=given_annotations,
        stamp=stamp_of(
            "split_foreground",
            SPLIT,
            reads=[voter_masks, per_model_video(lambda m, v: PATHS.masks(m, v, foreground=True))],
            makes=[per_model_video(PATHS.masks)],
        ),
    output:
        directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
    params:
        **SPLIT,
    log:
        f"{RESULTS}/logs/split_foreground/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/split_foreground/{{model}}/{{video}}.tsv"
    wildcard_constraints:
        model=FOREGROUND_MODELS,
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg split-foreground --foreground {input.foreground:q} --masks {params.masks:q}"
        " --annotation {input.annotation:q} --fused {input.fused:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


voting_masks = per_video(lambda v: [PLAN.raw_masks(m, v) for m in MODEL.voting])
PSEUDOLABEL = dict(
    annotations=annotation_stamps(),
    masks=per_video(lambda v: COMMANDS.pairs_of(MODEL.voting, v, raw=True)),
    settings=PLAN.settings_json("pseudolabel"),
    foreground=COMMANDS.foreground_args,
)


rule pseudolabel:
    input:
        masks=voting_masks,
        fused=f"{RESULTS}/fused/{{video}}.csv",
        annotation=given_annotations,
        stamp=stamp_of("pseudolabel", PSEUDOLABEL, reads=[voting_masks], makes=[pseudo_folder]),
    output:
        labels=directory(f"{RESULTS}/pseudo/{{video}}"),
        weights=f"{RESULTS}/weights/{{video}}.csv",
    params:
        **PSEUDOLABEL,
    log:
        f"{RESULTS}/logs/pseudolabel/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pseudolabel/{{video}}.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg pseudolabel --masks {params.masks:q} --annotation {input.annotation:q} --fused {input.fused:q}"
        " --settings {params.settings:q} {params.foreground:q} --out {output.labels:q}"
        " --weights-out {output.weights:q} > {log:q} 2>&1"


SCORE = dict(
    annotations=annotation_stamps(truth=True),
    masks=per_video(COMMANDS.pairs_of, MODELS),
    gt=truth_args,
    settings=PLAN.settings_json("score"),
)


rule score:
    input:
        masks=every_mask,
        pseudo=f"{RESULTS}/pseudo/{{video}}",
        gt=truth_files,
        frames=per_video(DATA.frames_dir),
        annotation=given_annotations,
        stamp=stamp_of("score", SCORE, reads=[every_mask, pseudo_folder]),
    output:
        f"{RESULTS}/scores/{{video}}.csv",
    params:
        **SCORE,
    log:
        f"{RESULTS}/logs/score/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/score/{{video}}.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg score --video {wildcards.video:q} --masks {params.masks:q} --pseudo {input.pseudo:q}"
        " --frames {input.frames:q} --annotation {input.annotation:q} {params.gt:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


PRIOR = dict(
    scores=video_files("scores"),
    models=MODELS,
    settings=PLAN.settings_json("select"),
)


# The dataset prior (pgmr.prior_margin, the fusion's reliabilities): one job for the dataset, read by every
# video's selection.
rule prior:
    input:
        scores=OUTPUTS.made_by("scores", "refine"),
        stamp=stamp_of("prior", PRIOR),
    output:
        f"{RESULTS}/prior.csv",
    params:
        **PRIOR,
    log:
        f"{RESULTS}/logs/prior.log",
    benchmark:
        f"{RESULTS}/benchmarks/prior.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg prior --scores {params.scores:q} --models {params.models:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


SELECT = dict(
    annotations=annotation_stamps(truth=True),
    masks=per_video(COMMANDS.pairs_of, MODELS),
    gt=truth_args,
    select=per_video(COMMANDS.select_args),
    settings=PLAN.settings_json("select"),
)


rule select:
    input:
        scores=f"{RESULTS}/scores/{{video}}.csv",
        masks=every_mask,
        pseudo=f"{RESULTS}/pseudo/{{video}}",
        gt=truth_files,
        prior=COMMANDS.prior_input,
        frames=per_video(DATA.frames_dir),
        annotation=given_annotations,
        stamp=stamp_of("select", SELECT, reads=[every_mask, pseudo_folder], makes=[final_folder]),
    output:
        final=directory(f"{RESULTS}/final/{{video}}"),
        selection=f"{RESULTS}/selection/{{video}}.csv",
        outcome=f"{RESULTS}/outcome/{{video}}.csv",
    params:
        **SELECT,
    log:
        f"{RESULTS}/logs/select/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/select/{{video}}.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg select --video {wildcards.video:q} --scores {input.scores:q} --masks {params.masks:q}"
        " --pseudo {input.pseudo:q} {params.select:q} {params.gt:q} --settings {params.settings:q} --final {output.final:q}"
        " --out {output.selection:q} --outcome {output.outcome:q} > {log:q} 2>&1"
