"""stseg.gpus: local GPU jobs claim distinct devices, and give them back when they exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO

from stseg.gpus import claim_gpus, visible_devices

CLAIM = """
import sys
from stseg.gpus import claim_gpus
print(claim_gpus(int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","), poll_seconds=0.05), flush=True)
sys.stdin.readline()  # hold the device until told to exit
"""


def claim(count: int, locks, devices: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "SLURM_JOB_ID"}
    return subprocess.Popen([sys.executable, "-c", CLAIM, str(count), str(locks), devices], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "PYTHONPATH": str(REPO)})


def test_concurrent_jobs_get_different_devices_and_a_third_waits(tmp_path):
    first, second = claim(1, tmp_path, "0,1"), claim(1, tmp_path, "0,1")
    a, b = first.stdout.readline().strip(), second.stdout.readline().strip()
    assert sorted([a, b]) == ["['0']", "['1']"]  # two jobs at once: one device each
    third = claim(1, tmp_path, "0,1")
    line = third.stderr.readline()  # every device is held: it waits (its first line says so)
    if "waiting for one" not in line:
        third.kill()
        pytest.fail(f"the third job did not wait: {line!r}")
    first.communicate("\n", timeout=30)  # the first job exits: its device is free again
    assert third.stdout.readline().strip() == a
    for process in (second, third):
        _, err = process.communicate("\n", timeout=30)
        assert process.returncode == 0 and "released GPU" in err


def test_nothing_is_claimed_without_gpus_or_inside_slurm(tmp_path, monkeypatch):
    assert claim_gpus(0, tmp_path, ["0"]) == [] and claim_gpus(1, tmp_path, []) == []
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert claim_gpus(1, tmp_path, ["0"]) == []
    monkeypatch.delenv("SLURM_JOB_ID")
    with pytest.raises(ValueError, match="asks for 2 GPU"):
        claim_gpus(2, tmp_path, ["0"])


def test_the_device_list_comes_from_stseg_gpu_devices_then_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_devices() == ["2", "3"]
    monkeypatch.setenv("STSEG_GPU_DEVICES", "0, 1,5")
    assert visible_devices() == ["0", "1", "5"]
