# stseg: several VOS models per video, fused boxes, pseudo-labels, per-video model selection.
# Run:   snakemake --cores 2            (default config: the demo dataset and the built-in models)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/inference.smk"
include: "rules/pgmr.smk"
include: "rules/output.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
