"""A run's life over its results folder, through Snakemake's CLI: a dry run changes no byte, one run at a time from any
directory, rerun decisions kept with the results, last good outputs kept through symlinks, a foreign folder refused,
no scratch left behind, edits at any depth seen."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import MODELS, REPO, job_counts, results_digest, snakemake, stand_in_stseg, tree_digest

from stseg.masks import read_label_map, write_label_map
from stseg.probabilities import read_probabilities, write_probabilities

pytestmark = pytest.mark.slow

TWO = {"flow": MODELS["flow"], "appearance": MODELS["appearance"]}


def every_byte_and_time(*roots: Path) -> dict[str, tuple]:
    """Every file and folder under ``roots``: its bytes' digest (files) and its mtime (both): what a run that changes
    nothing leaves as it was."""
    import hashlib

    found = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))]:
            content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            found[str(path)] = (content, path.lstat().st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def finished(small_demo, tmp_path_factory) -> Path:
    """A complete run with two built-in models: <base>/data, <base>/work/results."""
    base = tmp_path_factory.mktemp("lifecycle")
    shutil.copytree(small_demo, base / "data")
    (base / "work").mkdir()
    snakemake(base / "work", config(base), "--cores", "2")
    return base


def config(base: Path, **pgmr) -> dict:
    out = {"dataset": {"root": str(base / "data")}, "results": str(base / "work" / "results"), "models": dict(TWO)}
    if pgmr:
        out["pgmr"] = pgmr
    return out


def copy_of(finished: Path, tmp_path: Path) -> Path:
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    return base


def test_a_dry_run_changes_no_byte_whatever_changed(finished, tmp_path):
    base = copy_of(finished, tmp_path)
    results, data = base / "work" / "results", base / "data"
    # frames added to a video, a mask edited, a frame lost from an output, a setting changed
    frames = data / "JPEGImages" / "twins"
    shutil.copy(frames / "00009.jpg", frames / "00010.jpg")
    shutil.copy(data / "Annotations" / "twins" / "00009.png", data / "Annotations" / "twins" / "00010.png")
    mask = results / "masks" / "flow" / "crossing" / "00004.png"
    write_label_map(mask, np.zeros_like(read_label_map(mask)))
    (results / "pseudo" / "fast-ball" / "00003.png").unlink()
    before = every_byte_and_time(results, data)
    other = tmp_path / "elsewhere"  # from another directory, results spelled another way
    other.mkdir()
    dry = snakemake(other, config(base, strategy="video"), "--dry-run")
    assert every_byte_and_time(results, data) == before
    counts = job_counts(dry.stdout)
    # twins (new frames): everything; crossing: what reads the edited mask; fast-ball: the lost frame made again
    assert counts["infer"] == 2 and counts["select"] == 3 and counts["pseudolabel"] == 3, dry.stdout[-3000:]
    # and the real run does what the dry run listed
    snakemake(other, config(base, strategy="video"), "--cores", "2")
    assert len(list((results / "final" / "twins").glob("*.png"))) == 11
    assert (results / "pseudo" / "fast-ball" / "00003.png").is_file()
    assert "Nothing to be done" in snakemake(base / "work", config(base, strategy="video"), "--dry-run").stdout


def test_a_setting_changed_from_another_directory_reruns_what_depends_on_it_and_only_that(finished, tmp_path):
    base = copy_of(finished, tmp_path)
    results = base / "work" / "results"
    masks = tree_digest(results / "masks")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    relative = {**config(base, strategy="video"), "results": os.path.relpath(results, elsewhere)}
    dry = job_counts(snakemake(elsewhere, relative, "--dry-run").stdout)
    assert dry["select"] == 3 and "infer" not in dry and "score" not in dry
    snakemake(elsewhere, relative, "--cores", "2")
    assert "selection:video" in (results / "summary.txt").read_text().split("<- final answer")[0].splitlines()[-1]
    assert tree_digest(results / "masks") == masks
    # back to the default from the first directory: rerun again (the earlier decision is not kept over the change)
    back = job_counts(snakemake(base / "work", config(base), "--dry-run").stdout)
    assert back["select"] == 3 and "infer" not in back
    snakemake(base / "work", config(base), "--cores", "2")
    assert "Nothing to be done" in snakemake(elsewhere, config(base), "--dry-run").stdout


def test_a_precomputed_models_probabilities_edited_in_place_rerun_its_fusion(small_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    brought = tmp_path / "brought"
    for video in ("twins", "crossing"):  # a "model" whose masks are the ground truth, with probabilities
        (brought / video / "probs").mkdir(parents=True)
        for png in sorted((data / "Annotations" / video).glob("*.png")):
            labels = read_label_map(png)
            write_label_map(brought / video / png.name, labels)
            write_probabilities(brought / video / "probs" / f"{png.stem}.npz",
                                {int(o): (labels == o).astype(np.float32) for o in np.unique(labels) if o})
    shutil.rmtree(data / "JPEGImages" / "fast-ball")
    shutil.rmtree(data / "Annotations" / "fast-ball")
    work = tmp_path / "work"
    work.mkdir()
    cfg = {"dataset": {"root": str(data)}, "results": str(work / "results"),
           "models": {**TWO, "mine": {"type": "precomputed", "options": {"path": str(brought)}}}}
    snakemake(work, cfg, "--cores", "2")
    npz = brought / "twins" / "probs" / "00004.npz"
    probabilities = read_probabilities(npz, read_label_map(brought / "twins" / "00004.png").shape)
    write_probabilities(npz, {o: 0.5 * p for o, p in probabilities.items()})  # edited in place, at depth
    counts = job_counts(snakemake(work, cfg, "--dry-run").stdout)
    assert counts["infer"] == 1 and counts["select"] >= 1, counts  # its job for twins, and what follows


def held_run(base, tmp_path, mode):
    """A run of ``base``'s workflow whose selections rerun (strategy object) and whose select job, once started,
    waits for the test's word (``mode`` "wait": the path to touch is returned) or hangs (``mode`` "hang"); it
    returns when that job has started, so the run holds its lock whatever the machine's speed."""
    cfg = base / "work" / "held.yaml"
    cfg.write_text(yaml.safe_dump(config(base, strategy="object")))
    python = stand_in_stseg(tmp_path / "venv")
    marker, release = tmp_path / "select-started", tmp_path / "go-on"
    env = {**os.environ, "STSEG_TEST_MODE": mode, "STSEG_TEST_MARKER": str(marker), "STSEG_TEST_RELEASE": str(release)}
    run = subprocess.Popen(
        [python, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(base / "work"),
         "--configfile", str(cfg), "--cores", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and not marker.exists() and run.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), f"the run's select job never started: {run.communicate()[0][-3000:]}"
    return run, release


def test_two_real_runs_on_one_results_folder_the_second_is_refused_and_changes_nothing(finished, tmp_path):
    base = copy_of(finished, tmp_path)
    results = base / "work" / "results"
    first, release = held_run(base, tmp_path, "wait")
    lock = results / ".stseg" / "lock"
    assert f"pid {first.pid}" in lock.read_text()
    before = results_digest(results)
    other = tmp_path / "elsewhere"
    other.mkdir()
    second = snakemake(other, config(base, strategy="vote"), "--cores", "1", check=False)
    output = second.stdout + second.stderr
    assert second.returncode != 0, output[-3000:]
    assert f"results: {results} is in use by another run (pid {first.pid}" in output
    assert "nothing was run." in output
    assert results_digest(results) == before  # the second changed nothing
    release.touch()
    assert first.wait(timeout=300) == 0, first.stdout.read()[-3000:]  # the first run was not disturbed
    assert "selection:object" in (results / "summary.txt").read_text().split("<- final answer")[0].splitlines()[-1]
    # its lock went with it; now the second runs
    snakemake(other, config(base, strategy="vote"), "--cores", "1")


def test_the_lock_is_held_until_the_run_ends_even_by_sigterm(finished, tmp_path):
    import fcntl

    base = copy_of(finished, tmp_path)
    lock = base / "work" / "results" / ".stseg" / "lock"
    run, _ = held_run(base, tmp_path, "hang")
    with open(lock, "a+") as probe:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # still held while jobs run
    os.killpg(run.pid, signal.SIGTERM)  # as SLURM ends a job
    run.communicate(timeout=120)
    with open(lock, "a+") as probe:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released


def test_last_good_outputs_are_kept_through_a_symlinked_folder(finished, tmp_path):
    # final/ is a symlink to another folder (another disk); a rerun whose selection of one video fails after
    # Snakemake removed its old answer: that answer is in stale/, byte for byte, as the run says; the others in place
    base = copy_of(finished, tmp_path)
    results = base / "work" / "results"
    elsewhere = tmp_path / "other-disk" / "final"
    elsewhere.parent.mkdir()
    shutil.move(str(results / "final"), str(elsewhere))
    (results / "final").symlink_to(elsewhere)
    good = tree_digest(elsewhere / "twins")
    python = stand_in_stseg(tmp_path / "venv")
    cfg = base / "work" / "object.yaml"
    cfg.write_text(yaml.safe_dump(config(base, strategy="object")))
    failed = subprocess.run(
        [python, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(base / "work"),
         "--configfile", str(cfg), "--cores", "1", "--keep-going"],
        capture_output=True, text=True, env={**os.environ, "STSEG_TEST_MODE": "fail", "STSEG_TEST_VIDEO": "twins"})
    assert failed.returncode != 0
    assert "stseg: the last good outputs of" in failed.stderr and "are kept in" in failed.stderr, failed.stderr[-3000:]
    assert not (results / "final" / "twins").exists()  # removed by Snakemake before its failed job
    assert tree_digest(results / "stale" / "final" / "twins") == good
    assert (results / "final").is_symlink() and sorted(p.name for p in elsewhere.iterdir()) == ["crossing", "fast-ball"]


def test_a_folder_stseg_did_not_make_is_refused_and_left_alone(small_demo, tmp_path):
    foreign = tmp_path / "mine"
    (foreign / "stale").mkdir(parents=True)
    (foreign / "stale" / "notes.txt").write_text("my own stale notes")
    (foreign / "paper.tex").write_text("draft")
    before = every_byte_and_time(foreign)
    work = tmp_path / "work"
    work.mkdir()
    cfg = {"dataset": {"root": str(small_demo)}, "results": str(foreign), "models": dict(TWO)}
    for args in (("--dry-run",), ("--cores", "1")):
        result = snakemake(work, cfg, *args, check=False)
        assert result.returncode != 0
        assert f"results: {foreign} is not empty (paper.tex, stale) and was not made by stseg" in result.stdout + result.stderr
        assert every_byte_and_time(foreign) == before


def test_no_scratch_outlives_a_selection_killed_midway(finished, tmp_path):
    base = copy_of(finished, tmp_path)
    results = base / "work" / "results"
    clean = sorted(p.name for p in (results / "final").iterdir())
    cfg = base / "work" / "object.yaml"
    cfg.write_text(yaml.safe_dump(config(base, strategy="object")))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(base / "work"),
         "--configfile", str(cfg), "--cores", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.endswith(".partial") for p in (results / "final").iterdir()):
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)  # Snakemake and the select job writing its answer
    run.wait()
    snakemake(base / "work", config(base, strategy="object"), "--cores", "2")
    assert sorted(p.name for p in (results / "final").iterdir()) == clean  # no hidden leftovers
    assert not list(results.rglob("*.partial"))
