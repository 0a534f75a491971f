"""stseg.job_groups: batches and chunks cut the same way, kept between runs, changed as little as possible."""

from __future__ import annotations

import pytest

from stseg.job_groups import JobGroups, assign, read_kept, write_kept

VIDEOS = [f"v{i}" for i in range(9)]


def test_a_first_run_cuts_the_videos_in_order_into_ceil_n_over_k_batches():
    batches = assign(VIDEOS, 4)
    assert batches == {"00000": VIDEOS[:4], "00001": VIDEOS[4:8], "00002": VIDEOS[8:]}
    assert assign(VIDEOS, 1) == {f"{i:05d}": [v] for i, v in enumerate(VIDEOS)}
    with pytest.raises(ValueError, match="at least 1"):
        assign(VIDEOS, 0)


def test_later_runs_change_the_assignment_as_little_as_they_can():
    first = assign(VIDEOS, 4)
    assert assign(VIDEOS, 4, first) == first  # the same dataset: the same batches
    # a video added in the middle of the order joins the last batch, which has room: no other batch changes
    added = assign([*VIDEOS[:3], "new", *VIDEOS[3:]], 4, first)
    assert added == {**first, "00002": ["v8", "new"]}
    # a removed video leaves its batch only; a batch left empty goes
    removed = assign([v for v in VIDEOS if v not in ("v1", "v8")], 4, first)
    assert removed == {"00000": ["v0", "v2", "v3"], "00001": VIDEOS[4:8]}
    # a full last batch: a new one starts
    full = assign([*VIDEOS[:8], "x", "y", "z", "w", "u"], 4, assign(VIDEOS[:8], 4))
    assert full["00002"] == ["x", "y", "z", "w"] and full["00003"] == ["u"]


def test_an_unreadable_assignment_starts_again(tmp_path):
    path = tmp_path / "batches.json"
    path.write_text("{not json")
    assert read_kept(path) == {} and read_kept(tmp_path / "absent.json") == {}


def test_groups_are_kept_while_their_size_and_kind_stay(tmp_path):
    first = JobGroups.cut("sam2", 4, VIDEOS)
    assert first.groups == assign(VIDEOS, 4) and first.of("v5") == "00001" and first.videos("00002") == ["v8"]
    path = tmp_path / "groups.json"
    write_kept(path, {"infer/m": first.record()})
    kept = read_kept(path)["infer/m"]
    assert kept == {"per_job": 4, "kind": "sam2", "groups": first.groups}
    added = JobGroups.cut("sam2", 4, [*VIDEOS, "new"], kept)
    assert added.groups == {**first.groups, "00002": ["v8", "new"]}
    # another size or another model type cuts them again, from the dataset's order
    assert JobGroups.cut("sam2", 3, ["new", *VIDEOS], kept).groups["00000"] == ["new", "v0", "v1"]
    assert JobGroups.cut("cutie", 4, ["new", *VIDEOS], kept).groups["00000"] == ["new", "v0", "v1", "v2"]
    assert not JobGroups.cut("stages", 1, VIDEOS) and JobGroups.cut("stages", 1, VIDEOS).videos("00000") == []
    with pytest.raises(KeyError, match="v99 is in no group of sam2"):
        first.of("v99")
