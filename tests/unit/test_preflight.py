"""stseg.preflight through `stseg preflight` and the workflow's `preflight` target: every problem at once, a model's
frame run as its jobs run it, random-weight checkpoints on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import snakemake

torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("sam2", reason="sam2 is not installed")


def preflight(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "my-config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "stseg.cli", "preflight", "--configfile", str(path)],
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def sam2_weights(tmp_path_factory) -> Path:
    from sam2_reference import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("weights") / "sam2.1_hiera_tiny.pt")


def config_of(small_demo: Path, tmp_path: Path, **models) -> dict:
    return {"dataset": {"root": str(small_demo), "videos": ["twins"]}, "results": str(tmp_path / "results"),
            "models": {"flow": {"type": "flow"}, **models}}


def test_a_ready_config_passes_with_one_frame_through_each_model(small_demo, sam2_weights, tmp_path):
    sam = {"type": "sam2", "gpus": 0, "options": {"checkpoint": str(sam2_weights), "size": "tiny", "image_size": 256,
                                                  "device": "cpu"}}
    result = preflight(config_of(small_demo, tmp_path, sam=sam), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "ok       the config and the dataset: 1 valid video(s), 2 model(s)" in result.stdout
    assert "ok       sam: one frame: frame 2 of twins in" in result.stdout and "0 problem(s): ready to run" in result.stdout
    assert not (tmp_path / "results").exists()  # the command writes nothing in the results folder


def test_every_problem_is_listed_at_once(small_demo, sam2_weights, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    bare = tmp_path / "bare"  # an environment without stseg's dependencies
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    models = {
        "gpu": {"type": "sam2", "gpus": 1, "options": {"checkpoint": str(sam2_weights), "size": "tiny"}},
        "bad": {"type": "sam2", "gpus": 0, "options": {"checkpoint": str(broken), "size": "tiny", "device": "cpu"}},
        "elsewhere": {"type": "appearance", "python": str(bare / "bin" / "python")},
    }
    result = preflight(config_of(small_demo, tmp_path, **models), tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    if not torch.cuda.is_available():
        assert any(line.startswith("PROBLEM  gpu: CUDA: sam2: this job was given 1 GPU(s) but torch sees no CUDA device")
                   for line in lines), result.stdout
    assert any(line.startswith("PROBLEM  bad: one frame: ") and "broken.pt" in line for line in lines), result.stdout
    assert any(line.startswith("PROBLEM  elsewhere: environment: ") and "cannot import stseg's command" in line
               for line in lines), result.stdout
    assert "ok       flow: one frame" in result.stdout and lines[-1].startswith("3 problem(s)")


def test_config_problems_are_the_parses_all_at_once(small_demo, tmp_path):
    models = {"a": {"type": "sam2", "options": {"checkpoint": "/nowhere/a.pt"}}, "b": {"type": "flow",
                                                                                      "options": {"scael": 1}}}
    result = preflight(config_of(small_demo, tmp_path, **models), tmp_path)
    assert result.returncode == 1
    assert "PROBLEM  the config and the dataset: 2 problems in the config or the data" in result.stdout
    assert "models.a.options.checkpoint: /nowhere/a.pt not found" in result.stdout and "scael" in result.stdout


def test_the_workflow_target_runs_it_each_time_it_is_asked(small_demo, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    config = config_of(small_demo, tmp_path)
    for _ in range(2):  # asked twice: run twice (a check is not a result to keep)
        snakemake(work, config, "--cores", "1", "preflight")
        assert "0 problem(s): ready to run" in (tmp_path / "results" / "preflight.txt").read_text()
    assert not (tmp_path / "results" / "final").exists()  # nothing else ran

