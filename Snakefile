# stseg: several VOS models per video, fused boxes, pseudo-labels, per-video model selection.
# Run:   snakemake --cores 2            (default config: the demo dataset and the built-in models)
import copy

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


# A config given with --configfile replaces config.yaml instead of being merged into it
# (a merge would keep config.yaml's models in a config that lists others); --config still overrides.
# As a module of another workflow (README), the config is the one the module statement hands over (Snakemake then
# skips the module's configfile statement; `is_module` is true for the top-level workflow too, so it cannot tell).
if workflow.overwrite_configfiles and not workflow.modifier.skip_configfile:
    config.clear()
    config.update(copy.deepcopy(workflow.config_settings.overwrite_config))

# a key given twice in a config file is refused (YAML keeps the last one silently)
from stseg.workflow import check_config_files

check_config_files(workflow.overwrite_configfiles or workflow.configfiles)



include: "rules/common.smk"
include: "rules/inference.smk"
include: "rules/pgmr.smk"
include: "rules/chunks.smk"
include: "rules/output.smk"


# dataset-level steps run on the submitting host, not as cluster jobs
localrules:
    all,
    prior,
    select,
    summarize,
    submission,
    calibration,
    scores_plot,
    report_summary,


rule all:
    input:
        OUTPUTS.targets(),
    default_target: True
