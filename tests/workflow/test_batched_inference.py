"""Batched inference through the workflow: one job per batch of videos, the same bytes as one job per video, and
reruns as small as the per-video layout's."""

from __future__ import annotations

import shutil

import cv2
import pytest
from helpers import MODELS, damage_png, job_counts, snakemake, tree_digest

pytestmark = pytest.mark.slow


def config(data, results, per_job, **extra):
    return {"dataset": {"root": str(data)}, "results": str(results), "models": MODELS,
            "inference": {"videos_per_job": per_job}, **extra}


@pytest.fixture(scope="module")
def runs(small_demo, plain_run, tmp_path_factory):
    """The plain run (one job per model and video) and a batched one on a copy of its data."""
    work = tmp_path_factory.mktemp("batched")
    data = work / "data"
    shutil.copytree(small_demo, data)
    batched = snakemake(work, config(data, work / "batched", 2), "--cores", "2")
    return work, data, plain_run / "results", batched


def test_two_videos_per_job_runs_ceil_3_over_2_jobs_per_model_and_writes_the_same_bytes(runs):
    work, data, single, batched = runs
    assert not (single / "logs" / "infer_batch").exists() and (single / "logs" / "infer").is_dir()
    log = batched.stdout + batched.stderr
    assert log.count("rule infer_batch:") == 2 * len(MODELS) and "rule infer:" not in log
    for stage in ("masks", "pseudo", "final"):
        assert tree_digest(single / stage) == tree_digest(work / "batched" / stage), stage
    for name in ("summary.csv", "summary_overall.csv", "submission.zip"):
        assert (single / name).read_bytes() == (work / "batched" / name).read_bytes(), name


def test_what_reruns_when_a_video_changes_is_added_or_is_targeted(runs, tmp_path):
    work, data, _, _ = runs
    # one video's frame rewritten in place: its batch jobs rerun, computing that video only; only its stages rerun
    frame = data / "JPEGImages" / "fast-ball" / "00004.jpg"  # batch 00000: crossing, fast-ball
    image = cv2.imread(str(frame))
    image[:20, :20] = 255
    cv2.imwrite(str(frame), image)
    dry = snakemake(work, config(data, work / "batched", 2), "--dry-run")
    counts = job_counts(dry.stdout)
    assert counts["infer_batch"] == len(MODELS) and counts["take"] == len(MODELS)
    assert counts["fuse"] == 1 and counts["pseudolabel"] == 1 and counts["score"] == 1
    snakemake(work, config(data, work / "batched", 2), "--cores", "2")
    log = (work / "batched" / "logs" / "infer_batch" / "flow" / "00000.log").read_text()
    assert "fast-ball: 10 frames" in log and "crossing already staged with this stamp: kept" in log
    # a video added: the batch it joins (the last, which has room) reruns and computes it only
    for kind in ("JPEGImages", "Annotations"):
        shutil.copytree(data / kind / "twins", data / kind / "zz-added")
    counts = job_counts(snakemake(work, config(data, work / "batched", 2), "--dry-run").stdout)
    assert counts["infer_batch"] == len(MODELS) and counts["take"] == len(MODELS) and counts["fuse"] == 1
    snakemake(work, config(data, work / "batched", 2), "--cores", "2")
    record = (work / "batched" / "batches" / "flow" / "00001.json").read_text()
    assert '"video": "zz-added"' in record and record.count('"computed": true') == 1
    # one video targeted on a fresh results folder: its batch only (the dataset prior off, so nothing else)
    fresh = config(data, tmp_path / "fresh", 2, pgmr={"prior_margin": None, "fuse_reliability": "uniform"})
    counts = job_counts(snakemake(work, fresh, "--dry-run", str(tmp_path / "fresh" / "final" / "twins")).stdout)
    assert counts["infer_batch"] == len(MODELS) and counts["take"] == len(MODELS) and counts["select"] == 1


def test_a_failing_video_of_a_batch_is_reported_with_its_batch_jobs_error(small_demo, tmp_path):
    """A precomputed model with a damaged mask of fast-ball: its batch (crossing, fast-ball) fails in the job; twins, in the
    other batch, finishes; the report names the batch job's error for fast-ball; after the fix only fast-ball is read."""
    masks = tmp_path / "theirs"
    for video in ("crossing", "fast-ball", "twins"):
        shutil.copytree(small_demo / "Annotations" / video, masks / video)
    good = damage_png(masks / "fast-ball" / "00003.png")  # read, it fails in the job
    models = {"flow": MODELS["flow"], "theirs": {"type": "precomputed", "options": {"path": str(masks)}}}
    cfg = {**config(small_demo, tmp_path / "results", 2), "models": models, "pgmr": {"prior_margin": None, "fuse_reliability": "uniform"}}
    result = snakemake(tmp_path, cfg, "--cores", "2", "--keep-going", check=False)
    assert result.returncode != 0
    failed = (tmp_path / "results" / "failed.csv").read_text()
    row = next(line for line in failed.splitlines() if line.startswith("fast-ball,"))
    assert "infer_batch/theirs" in row and "video(s) of the batch failed" in row
    assert "twins" not in failed and (tmp_path / "results" / "final" / "twins").is_dir()
    (masks / "fast-ball" / "00003.png").write_bytes(good)
    snakemake(tmp_path, cfg, "--cores", "2")
    log = (tmp_path / "results" / "logs" / "infer_batch" / "theirs" / "00000.log").read_text()
    assert "crossing already staged with this stamp: kept" in log and "1 of 2 video(s) computed" in log
