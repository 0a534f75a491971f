"""stseg.job_record: a job given a GPU that finds none fails at once; what a job ran on is recorded and summed up."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from stseg.job_record import GPUMissingError, check_gpu_job, job_record, read_records, resources_table

torch = pytest.importorskip("torch", reason="torch is not installed")
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


@needs_no_cuda
def test_a_gpu_job_without_cuda_fails_at_once_naming_the_host_torch_and_the_fix():
    with pytest.raises(GPUMissingError) as error:
        check_gpu_job("sam2", {}, 1, {"device": "auto"})
    text = str(error.value)
    assert f"torch sees no CUDA device on host {socket.gethostname()}" in text
    assert f"torch {torch.__version__}, built for CUDA {torch.version.cuda}" in text
    assert "set models.<name>.options.device: cpu and models.<name>.gpus: 0" in text
    check_gpu_job("sam2", {"device": "cpu"}, 1, {"device": "auto"})  # the user's explicit choice
    check_gpu_job("sam2", {}, 0, {"device": "auto"})  # no GPU asked for
    check_gpu_job("flow", {}, 1, {"scale": 1.0})  # a model that does not pick a device


def test_the_cli_refuses_before_building_the_model(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # as a job handed no GPU by a wrong partition
    result = subprocess.run([sys.executable, "-m", "stseg.cli", "infer", "--model-type", "sam2", "--options",
                             json.dumps({"checkpoint": str(tmp_path / "none.pt")}), "--gpus", "1",
                             "--gpu-locks", str(tmp_path / "locks"), "--frames", str(tmp_path), "--annotation",
                             str(tmp_path / "00000.png"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "this job was given 1 GPU(s) but torch sees no CUDA device" in result.stderr
    assert "CUDA_VISIBLE_DEVICES=''" in result.stderr and "Traceback" not in result.stderr


def test_records_are_read_and_summed_per_model(tmp_path):
    record = job_record("flow", 10, 2.5)
    assert record["device"] == "cpu" and record["frames"] == 10 and record["peak_host_mb"] > 0
    assert record["peak_gpu_mb"] is None and record["host"] == socket.gethostname()
    (tmp_path / "resources" / "flow").mkdir(parents=True)
    (tmp_path / "resources" / "flow" / "a.json").write_text(json.dumps({**record, "frames": 10, "seconds": 2.0,
                                                                        "peak_host_mb": 100.0}))
    (tmp_path / "resources" / "flow" / "b.json").write_text(json.dumps({**record, "frames": 30, "seconds": 2.0,
                                                                        "peak_host_mb": 900.0}))
    (tmp_path / "batches" / "sam2").mkdir(parents=True)  # a batch job's record holds it under "resources"
    (tmp_path / "batches" / "sam2" / "00000.json").write_text(json.dumps(
        {"videos": [], "resources": {**record, "device": "cuda:0", "gpu": "NVIDIA H100", "frames": 100, "seconds": 5.0,
                                     "peak_gpu_mb": 5120.0}}))
    rows = read_records([tmp_path / "resources" / "flow" / "a.json", tmp_path / "resources" / "flow" / "b.json",
                         tmp_path / "batches" / "sam2" / "00000.json", tmp_path / "absent.json"])
    table = resources_table(rows).set_index("model")
    assert table.loc["flow", "jobs"] == 2 and table.loc["flow", "frames"] == 40
    assert table.loc["flow", "seconds_per_frame"] == pytest.approx(4.0 / 40) and table.loc["flow", "peak_host_mb"] == 900.0
    assert table.loc["sam2", "gpu"] == "NVIDIA H100" and table.loc["sam2", "peak_gpu_mb"] == 5120.0
    assert resources_table([]).empty
