"""The README's command forms, as written (dry runs on the small demo)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from helpers import (
    MODELS,
    REPO,
    job_counts,
)

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


def test_a_config_given_from_the_checkout_replaces_the_demo_config(my_config):
    """`snakemake --cores 16 --configfile my-config.yaml` from the checkout (README: Running on a real dataset),
    where the Snakefile's own config.yaml (the demo's four built-in models) is found too: the user's config
    replaces it, so only its two models run, not the demo's as well."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                             str(my_config / "my-config.yaml"), "--dry-run"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert job_counts(result.stdout)["infer"] == 6, result.stdout[-3000:]  # flow and appearance, 3 videos
    assert "model=copy" not in result.stdout and "model=global" not in result.stdout


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


def test_the_main_command_on_the_embedded_default(tmp_path):
    """`snakemake --cores 2` on config.yaml: the demo is generated, every stage runs, and the numbers are the README's."""
    import shutil

    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    result = run(tmp_path, "--directory", str(tmp_path), "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "results" / "summary.txt").read_text()
    assert "  selection:video         20  0.8593  0.8872  0.8733     0.7976" in text  # README: "Does it work?"
    assert "  flow                    20  0.7865  0.7913  0.7889     0.8628" in text
    assert (tmp_path / "results" / "submission.zip").is_file() and (tmp_path / "results" / "report" / "summary.html").is_file()
    again = run(tmp_path, "--directory", str(tmp_path), "--cores", "2")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_help_is_plain_text_and_evaluate_points_at_the_right_level(small_demo, tmp_path):
    import shutil

    help_text = subprocess.run([sys.executable, "-m", "stseg.cli", "--help"], capture_output=True, text=True, cwd=REPO).stdout
    assert "``" not in help_text and "The stseg command" in help_text
    masks = tmp_path / "results" / "masks"
    for model in ("flow", "copy"):
        shutil.copytree(small_demo / "Annotations", masks / model)
    wrong = subprocess.run([sys.executable, "-m", "stseg.cli", "evaluate", "--gt", str(small_demo / "Annotations"),
                            "--pred", str(masks)], capture_output=True, text=True, cwd=REPO)
    assert wrong.returncode == 2
    assert f"{masks} looks like a folder of several results (copy, flow hold 'crossing'): point --pred at one of them" \
        in wrong.stderr
    right = subprocess.run([sys.executable, "-m", "stseg.cli", "evaluate", "--gt", str(small_demo / "Annotations"),
                            "--pred", str(masks / "flow")], capture_output=True, text=True, cwd=REPO)
    assert right.returncode == 0 and "1.0000   J&F" in right.stdout
