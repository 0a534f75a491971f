"""The chunked layout (stages.videos_per_job): the light stages of several videos per job, the same bytes as one
job per (stage, video), far fewer jobs, and reruns that stay within a chunk."""

from __future__ import annotations

import shutil

import cv2
import pytest
from helpers import MODELS, damage_png, job_counts, results_digest, snakemake, tree_digest

from stseg.masks import read_label_map, write_label_map

pytestmark = pytest.mark.slow


def config(data, results, per_job, **extra):
    return {"dataset": {"root": str(data)}, "results": str(results), "models": MODELS,
            "inference": {"videos_per_job": per_job}, "stages": {"videos_per_job": per_job}, **extra}


def without_timestamps(digest):
    """A per-video layout's folders carry Snakemake's timestamp file; the chunked layout's records stand for them."""
    return {k: v for k, v in digest.items() if not k.endswith(".snakemake_timestamp")}


@pytest.fixture(scope="module")
def runs(small_demo, plain_run, tmp_path_factory):
    """The plain run (one job per stage and video) and a chunked one on a copy of its data."""
    work = tmp_path_factory.mktemp("chunked")
    data = work / "data"
    shutil.copytree(small_demo, data)
    chunked = snakemake(work, config(data, work / "chunked", 2), "--cores", "2")
    return work, data, plain_run / "results", chunked


def test_two_videos_per_job_runs_two_chunk_jobs_per_stage_and_writes_the_same_bytes(runs):
    work, data, single, chunked = runs
    log = chunked.stdout + chunked.stderr
    assert log.count("rule refine_chunk:") == 2 and log.count("rule select_chunk:") == 2
    assert log.count("rule infer_batch:") == 2 * len(MODELS)
    for rule in ("take", "request", "fuse", "pseudolabel", "score", "select", "overlay"):
        assert f"rule {rule}:" not in log, rule
    assert without_timestamps(results_digest(single)) == without_timestamps(results_digest(work / "chunked"))
    for stage in ("weights", "outcome", "report/overlays"):
        assert tree_digest(single / stage) == tree_digest(work / "chunked" / stage), stage
    assert "Nothing to be done" in snakemake(work, config(data, work / "chunked", 2), "--dry-run").stdout


def test_what_reruns_when_a_video_changes_an_output_is_deleted_or_a_mask_is_edited(runs):
    work, data, _, _ = runs
    cfg = config(data, work / "chunked", 2)
    # a frame rewritten in place: its batch jobs compute that video only; the light stages of its chunk rerun
    frame = data / "JPEGImages" / "fast-ball" / "00004.jpg"  # chunk and batch 00000: crossing, fast-ball
    image = cv2.imread(str(frame))
    image[:20, :20] = 255
    cv2.imwrite(str(frame), image)
    counts = job_counts(snakemake(work, cfg, "--dry-run").stdout)
    assert counts["infer_batch"] == len(MODELS) and counts["refine_chunk"] == 1, counts
    snakemake(work, cfg, "--cores", "2")
    log = (work / "chunked" / "logs" / "infer_batch" / "flow" / "00000.log").read_text()
    assert "fast-ball: 10 frames" in log and "crossing already staged with this stamp: kept" in log
    assert "Nothing to be done" in snakemake(work, cfg, "--dry-run").stdout
    # a per-video output deleted: the chunk job that owns it makes it again, nothing before it reruns
    shutil.rmtree(work / "chunked" / "final" / "twins")
    counts = job_counts(snakemake(work, cfg, "--dry-run").stdout)
    assert counts["select_chunk"] == 1 and "refine_chunk" not in counts and "infer_batch" not in counts, counts
    snakemake(work, cfg, "--cores", "2")
    assert (work / "chunked" / "final" / "twins").is_dir()
    # a mask edited in place: the chunk reading it reruns (from its refinement on), the model's job does not
    mask = work / "chunked" / "masks" / "flow" / "crossing" / "00003.png"
    labels = read_label_map(mask)
    labels[:8, :8] = 0
    write_label_map(mask, labels)
    counts = job_counts(snakemake(work, cfg, "--dry-run").stdout)
    assert counts["refine_chunk"] == 1 and counts["select_chunk"] >= 1 and "infer_batch" not in counts, counts


def test_a_failing_video_stops_its_chunk_only_and_is_reported(small_demo, tmp_path):
    """A precomputed model with a damaged mask of fast-ball: its batch job fails for fast-ball, so chunk 00000 (crossing,
    fast-ball) waits; twins' chunk finishes; the report names the batch job's error for fast-ball."""
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
    assert (tmp_path / "results" / "final" / "twins").is_dir() and not (tmp_path / "results" / "final" / "crossing").exists()
    (masks / "fast-ball" / "00003.png").write_bytes(good)
    snakemake(tmp_path, cfg, "--cores", "2")
    assert (tmp_path / "results" / "final" / "crossing").is_dir() and not (tmp_path / "results" / "failed.csv").exists()
