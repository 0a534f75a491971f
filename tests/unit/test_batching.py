"""stseg.batching: a batch job that equals separate jobs and keeps what it finished (how videos are cut into
batches: tests/unit/test_job_groups.py)."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import tree_digest

from stseg.batching import BatchError, BatchVideo, StagingError, code_digest, run_batch, take_staged
from stseg.inference import run_model


def batch(small_demo, videos, stamp="s1"):
    return [BatchVideo(v, str(small_demo / "JPEGImages" / v), (str(small_demo / "Annotations" / v / "00000.png"),), stamp)
            for v in videos]


def test_a_batch_equals_separate_jobs_and_skips_what_it_finished(small_demo, tmp_path):
    videos = ["crossing", "fast-ball", "twins"]
    record = run_batch("flow", {"scale": 0.5, "preset": "fast"}, batch(small_demo, videos), tmp_path / "staged",
                       tmp_path / "record.json")
    assert [row["computed"] for row in record["videos"]] == [True, True, True]
    for video in videos:
        run_model("flow", {"scale": 0.5, "preset": "fast"}, small_demo / "JPEGImages" / video,
                  small_demo / "Annotations" / video / "00000.png", tmp_path / "alone" / video, progress=False)
        assert tree_digest(tmp_path / "staged" / video) == tree_digest(tmp_path / "alone" / video)
        assert (tmp_path / "staged" / f"{video}.stamp").read_text() == f"s1 code={code_digest('flow')}"
    assert json.loads((tmp_path / "record.json").read_text())["model_type"] == "flow"
    # a rerun with one video's stamp changed computes that video only
    again = batch(small_demo, videos)
    again[1] = BatchVideo(*[*again[1].__dict__.values()][:3], "s2")
    rerun = run_batch("flow", {"scale": 0.5, "preset": "fast"}, again, tmp_path / "staged", tmp_path / "record.json")
    assert [row["computed"] for row in rerun["videos"]] == [False, True, False]


def test_a_failing_video_does_not_stop_the_others_and_a_rerun_computes_it_only(small_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    (data / "JPEGImages" / "twins" / "00004.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(BatchError, match=r"1 of 2 video\(s\) of the batch failed(.|\n)*twins: .*00004.jpg"):
        run_batch("copy", {}, batch(data, ["twins", "crossing"]), tmp_path / "staged", tmp_path / "record.json")
    assert (tmp_path / "staged" / "crossing.stamp").is_file() and not (tmp_path / "staged" / "twins").exists()
    assert not (tmp_path / "record.json").exists()  # the job did not finish: no record, Snakemake reruns it
    shutil.copy(small_demo / "JPEGImages" / "twins" / "00004.jpg", data / "JPEGImages" / "twins" / "00004.jpg")
    record = run_batch("copy", {}, batch(data, ["twins", "crossing"]), tmp_path / "staged", tmp_path / "record.json")
    assert [row["computed"] for row in record["videos"]] == [True, False]


def test_take_checks_the_stamp_and_links_every_file(small_demo, tmp_path):
    run_batch("copy", {}, batch(small_demo, ["twins"]), tmp_path / "staged", tmp_path / "record.json")
    assert take_staged(tmp_path / "staged" / "twins", "s1", tmp_path / "masks" / "twins") == 10
    assert tree_digest(tmp_path / "masks" / "twins") == tree_digest(tmp_path / "staged" / "twins")
    assert (tmp_path / "masks" / "twins" / "00003.png").stat().st_ino == (tmp_path / "staged" / "twins" / "00003.png").stat().st_ino
    with pytest.raises(StagingError, match="not staged from this video's current inputs"):
        take_staged(tmp_path / "staged" / "twins", "other", tmp_path / "masks" / "again")
    assert not (tmp_path / "masks" / "again").exists()
