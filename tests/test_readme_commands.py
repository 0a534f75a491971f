"""The README's command forms, as written (dry runs on the small demo)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from test_workflow import MODELS, job_counts

pytestmark = pytest.mark.slow


def run(workdir, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), *args],
                          capture_output=True, text=True, cwd=workdir)


@pytest.fixture()
def my_config(small_demo, tmp_path):
    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "out"),
              "models": {"flow": MODELS["flow"], "appearance": MODELS["appearance"]}}
    (tmp_path / "my-config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_one_video_target_after_another_option(my_config):
    """`snakemake --configfile my-config.yaml --cores 2 <results>/final/<video>` (README: Running on a real dataset)."""
    result = run(my_config, "--configfile", "my-config.yaml", "--cores", "2", f"{my_config}/out/final/twins", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout)
    # one selection; the dataset prior needs every video's scores, so a fresh run computes them all
    assert counts["select"] == 1 and counts["prior"] == 1 and counts["score"] == 3 and counts["infer"] == 6
    (my_config / "overrides.yaml").write_text("pgmr: {prior_margin: null}\n")
    alone = run(my_config, "--configfile", "my-config.yaml", "overrides.yaml", "--cores", "2",
                f"{my_config}/out/final/twins", "--dry-run")
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert job_counts(alone.stdout)["infer"] == 2 and "prior" not in job_counts(alone.stdout)  # without the prior


def test_slurm_rerun_example_dry_run(my_config):
    """`snakemake --configfile my-config.yaml --profile profiles/slurm <results>/final/<video>` (README: SLURM)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    result = run(my_config, "--configfile", "my-config.yaml", "--profile", str(REPO / "profiles" / "slurm"),
                 f"{my_config}/out/final/twins", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert job_counts(result.stdout)["select"] == 1


def test_config_overrides(my_config, small_demo):
    """`--config results=...` for a top-level entry; a second config file, merged into the first, for nested ones."""
    (my_config / "overrides.yaml").write_text(f"dataset: {{root: {small_demo}, videos: [twins]}}\n")
    result = run(my_config, "--configfile", "my-config.yaml", "overrides.yaml", "--config",
                 f"results={my_config}/elsewhere", "--cores", "1", "--dry-run")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{my_config}/elsewhere/final/twins" in result.stdout and "final/crossing" not in result.stdout
    dotted = run(my_config, "--configfile", "my-config.yaml", "--config", "dataset.root=/x", "--dry-run")
    assert dotted.returncode != 0 and "Config entry must start with a valid identifier" in dotted.stdout + dotted.stderr
