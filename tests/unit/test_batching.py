"""stseg.batching: how videos are cut into batch jobs, and a batch job that keeps what it finished."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import tree_digest

from stseg.batching import BatchError, BatchVideo, StagingError, assign_batches, code_digest, read_assignment, run_batch, take_staged
from stseg.inference import run_model

VIDEOS = [f"v{i}" for i in range(9)]


def test_a_first_run_cuts_the_videos_in_order_into_ceil_n_over_k_batches():
    batches = assign_batches(VIDEOS, 4)
    assert batches == {"00000": VIDEOS[:4], "00001": VIDEOS[4:8], "00002": VIDEOS[8:]}
    assert assign_batches(VIDEOS, 1) == {f"{i:05d}": [v] for i, v in enumerate(VIDEOS)}
    with pytest.raises(ValueError, match="at least 1"):
        assign_batches(VIDEOS, 0)


def test_later_runs_change_the_assignment_as_little_as_they_can():
    first = assign_batches(VIDEOS, 4)
    assert assign_batches(VIDEOS, 4, first) == first  # the same dataset: the same batches
    # a video added in the middle of the order joins the last batch, which has room: no other batch changes
    added = assign_batches([*VIDEOS[:3], "new", *VIDEOS[3:]], 4, first)
    assert added == {**first, "00002": ["v8", "new"]}
    # a removed video leaves its batch only; a batch left empty goes
    removed = assign_batches([v for v in VIDEOS if v not in ("v1", "v8")], 4, first)
    assert removed == {"00000": ["v0", "v2", "v3"], "00001": VIDEOS[4:8]}
    # a full last batch: a new one starts
    full = assign_batches([*VIDEOS[:8], "x", "y", "z", "w", "u"], 4, assign_batches(VIDEOS[:8], 4))
    assert full["00002"] == ["x", "y", "z", "w"] and full["00003"] == ["u"]


def test_an_unreadable_assignment_starts_again(tmp_path):
    path = tmp_path / "batches.json"
    path.write_text("{not json")
    assert read_assignment(path) == {} and read_assignment(tmp_path / "absent.json") == {}


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
