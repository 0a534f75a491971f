"""profiles/: the workflow profile Snakemake loads on every run sets nothing that the SLURM profile sets otherwise, so
the profile a user names is the profile in force."""

from __future__ import annotations

import yaml
from helpers import REPO


def test_the_workflow_profile_never_overrides_the_slurm_profile():
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    slurm = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert {k: (default[k], slurm[k]) for k in default.keys() & slurm.keys() if default[k] != slurm[k]} == {}
    assert slurm["keep-going"] is True and slurm["latency-wait"] == 60 and slurm["retries"] == 2
    assert slurm["slurm-status-command"] == "squeue"  # sacct fails without an accounting database
    assert "keep-going" not in default and "latency-wait" not in default
    assert default["rerun-triggers"] == "mtime" and default["nolock"] is True  # stseg's stamps and lock decide
