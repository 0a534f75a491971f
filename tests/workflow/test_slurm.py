"""The workflow through Snakemake's SLURM executor on a real one-node SLURM cluster started by the test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import (
    MODELS,
    REPO,
    damage_png,
    job_counts,
    results_digest,
    snakemake,
)
from slurm_cluster import Cluster, why_not

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install snakemake-executor-plugin-slurm")
    reason = why_not()
    if reason:
        pytest.skip(reason)
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def test_the_readmes_slurm_command_with_a_failing_video(cluster, small_demo, tmp_path):
    """`snakemake --configfile my-config.yaml --profile profiles/slurm`, from the checkout, exactly as the README
    writes it (no other flag): the SLURM profile's settings are the ones in force, one failing video does not stop
    the others, it is named at the end, and the rerun after the fix does only what is left; the bytes equal a
    local run's."""
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    brought = tmp_path / "brought"  # masks brought from elsewhere (a precomputed model): twins' will be damaged
    shutil.copytree(small_demo / "Annotations", brought)
    models = {"flow": {**MODELS["flow"], "gpus": 1}, "appearance": MODELS["appearance"],
              "mine": {"type": "precomputed", "options": {"path": str(brought)}}}
    config = lambda results: {"dataset": {"root": str(data)}, "results": str(results), "models": models,
                              "pgmr": {"prior_margin": None}}  # every video's selection on its own evidence
    local = tmp_path / "local"
    local.mkdir()
    snakemake(local, config(local / "results"), "--cores", "2")
    good = damage_png(brought / "twins" / "00005.png")
    results = tmp_path / "slurm-results"
    my_config = tmp_path / "my-config.yaml"
    my_config.write_text(yaml.safe_dump(config(results)))
    readme = [str(Path(sys.executable).parent / "snakemake"), "--configfile", str(my_config), "--profile",
              "profiles/slurm"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    first = subprocess.run(readme, cwd=REPO, capture_output=True, text=True, env=env)
    output = first.stdout + first.stderr
    assert first.returncode != 0
    assert "stseg: settings in force: executor slurm, keep-going true, latency-wait 60 s, retries 2" in output, output[-3000:]
    for video in ("crossing", "fast-ball"):  # the others finished
        assert len(list((results / "final" / video).glob("*.png"))) == 10, output[-3000:]
    report = pd.read_csv(results / "failed.csv").set_index("video")
    assert list(report.index) == ["twins"] and "00005.png" in report.loc["twins", "reason"], report.to_dict()
    assert "1 of 3 video(s) failed" in output

    (brought / "twins" / "00005.png").write_bytes(good)  # fixed
    left = subprocess.run([*readme, "--dry-run"], cwd=REPO, capture_output=True, text=True, env=env)
    counts = job_counts(left.stdout)
    assert counts.get("infer") == 1 and "infer_batch" not in counts and counts["select"] == 1, counts  # twins' only
    snakemake_run = subprocess.run(readme, cwd=REPO, capture_output=True, text=True, env=env)
    assert snakemake_run.returncode == 0, snakemake_run.stderr[-3000:]
    assert results_digest(results) == results_digest(local / "results")
    jobs = [line for line in cluster.jobs() if "JobState=COMPLETED" in line]
    gpu = [line for line in jobs if "infer_batch" in line and ("gres/gpu=1" in line or "gpu:1" in line)]
    assert gpu, "the GPU model's batch job asked for a GPU"
