"""Several GPUs on one machine: local runs place GPU jobs on different devices without oversubscribing (a fake
device list on the CPU: each job's log records the device it was given and when it held it)."""

from __future__ import annotations

import os
import re

import pytest
from helpers import MODELS, snakemake

pytestmark = pytest.mark.slow


def test_gpu_jobs_are_spread_over_the_devices_and_never_share_one(small_demo, tmp_path, monkeypatch):
    models = {name: {**entry, "gpus": 1} for name, entry in MODELS.items()}
    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results"), "models": models,
              "inference": {"gpu_videos_per_job": 2}}  # batch jobs and (for the batch of one) per-video ones alike
    monkeypatch.setenv("STSEG_GPU_DEVICES", "0,1")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    snakemake(tmp_path, config, "--cores", "4", "--resources", "gpu=2")
    held: dict[str, list[tuple[float, float]]] = {"0": [], "1": []}
    logs = list((tmp_path / "results" / "logs" / "infer_batch").rglob("*.log"))
    assert len(logs) == 2 * len(models)
    for log in logs:
        text = log.read_text()
        placed = re.search(r"placed on GPU (\d) \(CUDA_VISIBLE_DEVICES\) at ([\d.]+)", text)
        released = re.search(r"released GPU (\d) at ([\d.]+)", text)
        assert placed and released and placed.group(1) == released.group(1), text
        held[placed.group(1)].append((float(placed.group(2)), float(released.group(2))))
    assert held["0"] and held["1"]  # both devices used
    for device, spans in held.items():
        spans.sort()
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), (device, spans)
    assert os.environ["STSEG_GPU_DEVICES"] == "0,1"
