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
    stand_in_stseg,
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

    snakemake(killed, config_for(killed, data), "--cores", "2")  # no --unlock: the lock went with the killed process
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


def test_a_killed_run_then_a_failing_one_keep_the_last_good_selection(small_demo, tmp_path):
    """SIGKILL during a select job (its old outputs already removed by Snakemake), then a rerun that fails: the
    last good final masks, outcome and selection tables of every video are in place or under stale/, byte for
    byte; none is lost."""
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    work = tmp_path / "run"
    work.mkdir()
    config = config_for(work, data)
    snakemake(work, config, "--cores", "2")
    results = work / "results"
    videos = sorted(p.name for p in (results / "final").iterdir())
    good = {v: (tree_digest(results / "final" / v), (results / "outcome" / f"{v}.csv").read_bytes(),
                (results / "selection" / f"{v}.csv").read_bytes()) for v in videos}

    python = stand_in_stseg(tmp_path / "venv")
    marker = tmp_path / "select-started"
    env = {**os.environ, "STSEG_TEST_MARKER": str(marker)}
    config["pgmr"] = {"auto_margin": 0.5}  # a select setting: every video's selection reruns, nothing before it
    config_file = work / "test-config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    command = [python, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(work), "--configfile", str(config_file), "--cores", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               env={**env, "STSEG_TEST_MODE": "hang"})
    deadline = time.time() + 120
    while time.time() < deadline and not marker.exists():
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake and the select job it was running
    process.wait()
    assert marker.exists(), "the select job never started"
    gone = [v for v in videos if not (results / "final" / v).exists()]
    assert len(gone) == 1, "Snakemake removes the outputs of the job it starts"
    assert (results / ".stseg" / "last-good").is_dir()

    failed = subprocess.run(command, env={**env, "STSEG_TEST_MODE": "fail"}, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "a killed run left the last good outputs" in failed.stderr
    for video, (final, outcome, selection) in good.items():
        where = results if (results / "final" / video).exists() else results / "stale"
        assert tree_digest(where / "final" / video) == final, video
        assert (where / "outcome" / f"{video}.csv").read_bytes() == outcome, video
        assert (where / "selection" / f"{video}.csv").read_bytes() == selection, video
    assert (results / "stale" / "final" / gone[0]).is_dir()
