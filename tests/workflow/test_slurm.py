"""The workflow through Snakemake's SLURM executor on a real one-node SLURM cluster started by the test."""

from __future__ import annotations

import shutil

import pytest
from helpers import (
    MODELS,
    REPO,
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


def test_workflow_on_slurm_matches_a_local_run(cluster, small_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo, data, ignore=shutil.ignore_patterns("crossing"))
    models = {"flow": {**MODELS["flow"], "gpus": 1}, "appearance": MODELS["appearance"]}
    local, remote = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, remote):
        workdir.mkdir()
    config = lambda w: {"dataset": {"root": str(data)}, "results": str(w / "results"), "models": models}

    snakemake(local, config(local), "--cores", "2")
    result = snakemake(
        remote, config(remote), "--profile", str(REPO / "profiles" / "slurm"),
        "--slurm-status-command", "squeue", "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "1",
        "--latency-wait", "5",
    )
    assert results_digest(remote / "results") == results_digest(local / "results")

    jobs = [line for line in cluster.jobs() if "JobState=COMPLETED" in line]
    infer = [line for line in jobs if "rule_infer" in line or "_infer_" in line]
    # the GPU model's 2 videos in one batch job (the profile's 16 videos per GPU job), the CPU model's one job each
    assert len(infer) == 3, result.stdout[-2000:]
    gpu = [line for line in infer if "gres/gpu=1" in line or "gres/gpu:1" in line or "gpu:1" in line]
    assert len(gpu) == 1 and "infer_batch" in gpu[0] and "flow" in gpu[0]
    assert "2 of 2 video(s) computed" in (remote / "results" / "logs" / "infer_batch" / "flow" / "00000.log").read_text()
    grouped = [line for line in jobs if "pgmr" in line]
    assert len(grouped) == 2  # one job per video for its light stages (fuse, pseudolabel, score; select is local)
