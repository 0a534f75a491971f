# One job per (model, video): run the model and write a palette PNG for every frame.


rule infer:
    input:
        frames=frames_dir,
        annotation=first_annotation,
    output:
        masks=directory(f"{RESULTS}/masks/{{model}}/{{video}}"),
    params:
        model_type=model_type,
        options=model_options,
    log:
        f"{RESULTS}/logs/infer/{{model}}/{{video}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{model}}/{{video}}.tsv"
    threads: model_threads
    resources:
        mem_mb=model_mem_mb,
        runtime=model_runtime,
        gpu=model_gpus,
    conda:
        "../envs/stseg.yaml"
    shell:
        "stseg infer --model-type {params.model_type:q} --options {params.options:q}"
        " --frames {input.frames:q} --annotation {input.annotation:q} --out {output.masks:q} > {log:q} 2>&1"
