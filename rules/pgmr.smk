# Pseudo-label guided model refinement: boxes and fusion -> pseudo-labels -> scores -> selection.


# One job per video: every voting model's boxes (boxes/<video>.csv), then their fusion.
rule fuse:
    input:
        masks=per_video(COMMANDS.masks_of, MODEL.box_voters),
        annotation=given_annotations,
    output:
        fused=f"{RESULTS}/fused/{{video}}.csv",
        boxes=f"{RESULTS}/boxes/{{video}}.csv",
    params:
        annotations=annotation_stamps(),
        masks=per_video(COMMANDS.pairs_of, MODEL.box_voters),
        settings=PLAN.settings_json("fuse"),
    log:
        f"{RESULTS}/logs/fuse/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fuse/{{video}}.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg fuse --masks {params.masks:q} --annotation {input.annotation:q} --settings {params.settings:q}"
        " --boxes-out {output.boxes:q} --out {output.fused:q} > {log:q} 2>&1"


rule split_foreground:
    input:
        foreground=f"{RESULTS}/foreground/{{model}}/{{video}}",
        masks=per_video(COMMANDS.masks_of, MODEL.box_voters),
        fused=f"{RESULTS}/fused/{{video}}.csv",
        annotation=given_annotations,
    output:
        directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
    params:
        annotations=annotation_stamps(),
        masks=per_video(COMMANDS.pairs_of, MODEL.box_voters),
        settings=PLAN.settings_json("split_foreground"),
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


rule pseudolabel:
    input:
        masks=per_video(lambda v: [PLAN.raw_masks(m, v) for m in MODEL.voting]),
        fused=f"{RESULTS}/fused/{{video}}.csv",
        annotation=given_annotations,
    output:
        labels=directory(f"{RESULTS}/pseudo/{{video}}"),
        weights=f"{RESULTS}/weights/{{video}}.csv",
    params:
        annotations=annotation_stamps(),
        masks=per_video(lambda v: COMMANDS.pairs_of(MODEL.voting, v, raw=True)),
        settings=PLAN.settings_json("pseudolabel"),
        foreground=COMMANDS.foreground_args,
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


rule score:
    input:
        masks=per_video(COMMANDS.masks_of, MODELS),
        pseudo=f"{RESULTS}/pseudo/{{video}}",
        gt=truth_files,
        frames=per_video(DATA.frames_dir),
        annotation=given_annotations,
    output:
        f"{RESULTS}/scores/{{video}}.csv",
    params:
        annotations=annotation_stamps(truth=True),
        masks=per_video(COMMANDS.pairs_of, MODELS),
        gt=truth_args,
        settings=PLAN.settings_json("score"),
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


# The dataset prior (pgmr.prior_margin, the fusion's reliabilities): one job for the dataset, read by every
# video's selection.
rule prior:
    input:
        scores=OUTPUTS.made_by("scores", "refine"),
    output:
        f"{RESULTS}/prior.csv",
    params:
        scores=video_files("scores"),
        models=MODELS,
        settings=PLAN.settings_json("select"),
    log:
        f"{RESULTS}/logs/prior.log",
    benchmark:
        f"{RESULTS}/benchmarks/prior.tsv"
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg prior --scores {params.scores:q} --models {params.models:q} --settings {params.settings:q}"
        " --out {output:q} > {log:q} 2>&1"


rule select:
    input:
        scores=f"{RESULTS}/scores/{{video}}.csv",
        masks=per_video(COMMANDS.masks_of, MODELS),
        pseudo=f"{RESULTS}/pseudo/{{video}}",
        gt=truth_files,
        prior=COMMANDS.prior_input,
        frames=per_video(DATA.frames_dir),
        annotation=given_annotations,
    output:
        final=directory(f"{RESULTS}/final/{{video}}"),
        selection=f"{RESULTS}/selection/{{video}}.csv",
        outcome=f"{RESULTS}/outcome/{{video}}.csv",
    params:
        annotations=annotation_stamps(truth=True),
        masks=per_video(COMMANDS.pairs_of, MODELS),
        gt=truth_args,
        select=per_video(COMMANDS.select_args),
        settings=PLAN.settings_json("select"),
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
