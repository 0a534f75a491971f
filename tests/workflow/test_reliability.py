"""Nothing lost: killed runs resume to the same bytes, reruns are reproducible, hostile names are safe."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import (
    MODELS,
    REPO,
    results_digest,
    snakemake,
    tree_digest,
)

pytestmark = pytest.mark.slow





def config_for(workdir: Path, data: Path) -> dict:
    return {"dataset": {"root": str(data)}, "results": str(workdir / "results"), "models": MODELS}


def test_killed_run_resumes_to_the_same_bytes_as_an_uninterrupted_one(small_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    before = tree_digest(data)

    clean = tmp_path / "clean"
    clean.mkdir()
    snakemake(clean, config_for(clean, data), "--cores", "2")

    killed = tmp_path / "killed"
    killed.mkdir()
    config_file = killed / "test-config.yaml"
    config_file.write_text(yaml.safe_dump(config_for(killed, data)))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(killed),
         "--configfile", str(config_file), "--cores", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )
    masks = killed / "results" / "masks"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(masks.glob("*/*"))) < 4:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake and the job it was running
    process.wait()
    assert not (killed / "results" / "summary.csv").exists(), "the run finished before it could be killed"
    finished = [p for p in masks.glob("*/*") if not p.name.startswith(".")]
    for folder in finished:  # whatever carries its final name is complete
        assert len(list(folder.glob("*.png"))) == 10

    snakemake(killed, config_for(killed, data), "--unlock")
    snakemake(killed, config_for(killed, data), "--cores", "2")
    assert results_digest(killed / "results") == results_digest(clean / "results")
    leftovers = [p for p in (killed / "results").rglob("*.partial")]
    assert leftovers == []
    assert tree_digest(data) == before


def test_hostile_video_names_run_and_are_never_executed(small_demo, tmp_path):
    data = tmp_path / "data"
    names = {"twins": "a b", "fast-ball": "x;touch pwned", "crossing": "$(touch pwned2)"}
    for folder in ("JPEGImages", "Annotations"):
        for old, new in names.items():
            shutil.copytree(small_demo / folder / old, data / folder / new)
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = {**config_for(workdir, data), "models": {"flow": MODELS["flow"], "appearance": MODELS["appearance"]}}
    snakemake(workdir, config, "--cores", "2")
    for new in names.values():
        assert len(list((workdir / "results" / "final" / new).glob("*.png"))) == 10
    with zipfile.ZipFile(workdir / "results" / "submission.zip") as archive:
        assert {n.split("/")[0] for n in archive.namelist()} == set(names.values())
    for where in (workdir, tmp_path, REPO, Path.cwd()):
        assert not (where / "pwned").exists() and not (where / "pwned2").exists()
