"""stseg.chunks: the steps of a chunk job run in one process, a failing video does not stop the others, the steps
file is checked against the digest the job was planned with."""

from __future__ import annotations

import json

import pytest

from stseg.chunks import ChunkError, Step, read_steps, run_steps, steps_digest
from stseg.cli import build_parser

PARSE = build_parser().parse_args  # the stseg command table, as the run-chunk command passes it


def stamp(video: str, out) -> Step:
    return Step(video, ("stamp", "--stamp", f"made for {video}", "--out", str(out)))


def test_a_failing_step_skips_that_videos_later_steps_only_and_the_job_fails_without_a_record(tmp_path):
    steps = [stamp("a", tmp_path / "a.txt"),
             Step("b", ("take", "--staged", str(tmp_path / "nothing-staged"), "--stamp", "s", "--out", str(tmp_path / "b"))),
             stamp("b", tmp_path / "b.txt"),
             stamp("c", tmp_path / "c.txt")]
    with pytest.raises(ChunkError, match=r"1 video\(s\) of the chunk failed") as failure:
        run_steps(steps, tmp_path / "record.json", PARSE)
    assert "b: stseg take: " in str(failure.value) and "not staged from this video's current inputs" in str(failure.value)
    assert (tmp_path / "a.txt").read_text().strip() == "made for a" and (tmp_path / "c.txt").read_text().strip() == "made for c"
    assert not (tmp_path / "b.txt").exists() and not (tmp_path / "record.json").exists()


def test_a_chunk_that_succeeds_writes_its_record_last_with_every_video(tmp_path):
    record = run_steps([stamp("a", tmp_path / "a.txt"), stamp("b", tmp_path / "b.txt")], tmp_path / "record.json", PARSE)
    assert record["videos"] == ["a", "b"] and json.loads((tmp_path / "record.json").read_text())["videos"] == ["a", "b"]
    assert (tmp_path / "record.json").stat().st_mtime_ns >= (tmp_path / "b.txt").stat().st_mtime_ns


def test_the_steps_file_must_be_the_one_the_job_was_planned_with(tmp_path):
    steps = [stamp("a", tmp_path / "a.txt")]
    text = Step.to_json(steps)
    (tmp_path / "steps.json").write_text(text)
    assert read_steps(tmp_path / "steps.json", steps_digest(text)) == steps
    with pytest.raises(ChunkError, match="not the steps this job was planned with"):
        read_steps(tmp_path / "steps.json", steps_digest(text + " "))
    with pytest.raises(ChunkError, match="missing"):
        read_steps(tmp_path / "absent.json", steps_digest(text))
