"""stseg.stamps: a job's stamp path follows what it depends on; writing one leaves the right others."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from stseg.stamps import TIMESTAMP, Stamps, folder_state, write_stamp

NOW = time.time_ns()
HOUR = 3600 * 10**9


def made(tmp_path: Path, names: list[str], when: int = NOW - HOUR) -> Path:
    """A folder a job made an hour ago: its files, then Snakemake's timestamp at ``when``."""
    folder = tmp_path / "masks"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"mask")
        os.utime(folder / name, ns=(when - HOUR, when - HOUR))
    (folder / TIMESTAMP).touch()
    os.utime(folder / TIMESTAMP, ns=(when, when))
    os.utime(folder, ns=(when, when))
    return folder


def test_a_folder_is_as_made_edited_or_missing_a_frame(tmp_path):
    folder = made(tmp_path, ["00000.png", "00001.png"])
    frames = ("00000", "00001")
    assert folder_state(folder, frames) is None  # as its job left it
    assert folder_state(tmp_path / "never-made", frames) is None  # not made yet: its job will make it
    os.utime(folder / "00001.png", ns=(NOW - 60 * 10**9, NOW - 60 * 10**9))  # rewritten in place after the run
    assert folder_state(folder, frames) == f"edited {NOW - 60 * 10**9}"
    (folder / "00001.png").unlink()  # a frame's PNG gone
    assert folder_state(folder, frames).startswith("missing ")
    assert folder_state(folder).startswith("edited ")  # without the frames: the deletion moved the folder's time
    plain = tmp_path / "plain"
    plain.mkdir()
    assert folder_state(plain) is None  # no timestamp and no record: nothing to compare with
    record = tmp_path / "record.json"
    record.write_text("{}")
    os.utime(record, ns=(NOW - 2 * HOUR, NOW - 2 * HOUR))
    assert folder_state(plain, None, record).startswith("edited ")  # the chunked layout: newer than its record


def test_the_stamp_path_follows_what_the_job_depends_on_and_what_a_user_changed(tmp_path):
    stamps = Stamps(tmp_path / "results", "write")
    base = stamps.path("select", {"video": "twins"}, {"settings": "a"})
    assert base.startswith(str(tmp_path / "results" / ".stseg" / "stamps" / "select"))
    assert stamps.path("select", {"video": "twins"}, {"settings": "a"}, [None, None]) == base  # nothing changed
    assert stamps.path("select", {"video": "twins"}, {"settings": "b"}) != base  # a setting
    other = stamps.path("select", {"video": "crossing"}, {"settings": "a"})
    assert Path(other).parent != Path(base).parent  # another job, another key
    edited = stamps.path("select", {"video": "twins"}, {"settings": "a"}, [None, "edited 5"])
    assert Path(edited).parent == Path(base).parent and Path(edited).name.startswith(Path(base).name + ".")
    content = json.loads(Path(edited).read_text())
    assert content["depends on"] == {"settings": "a"} and content["changed since made"] == ["edited 5"]


def test_writing_a_stamp_removes_the_keys_others_but_a_volatile_ones_base(tmp_path):
    key = tmp_path / "select" / "0123456789abcdef"
    a, b = key / "aaaaaaaaaaaaaaaa", key / "bbbbbbbbbbbbbbbb"
    write_stamp(a, "{}")
    edited = key / "aaaaaaaaaaaaaaaa.cccccccccccccccc"
    write_stamp(edited, "{}")
    assert sorted(p.name for p in key.iterdir()) == [a.name, edited.name]  # the steady one is kept
    write_stamp(b, "{}")  # another setting: every other stamp of the key goes, so returning to `a` reruns
    assert [p.name for p in key.iterdir()] == [b.name]
    assert b.read_text() == "{}\n"


def test_a_stamp_does_not_depend_on_how_the_results_folder_is_spelled():
    from stseg.stamps import canonical_paths

    places = {"results": "<results>", "/work/results": "<results>", "data/demo": "<dataset>",
              "/work/data/demo": "<dataset>"}
    relative = {"masks": ["copy=results/masks/copy/v"], "gt": ["--gt", "data/demo/Annotations/v"], "n": 3}
    absolute = {"masks": ["copy=/work/results/masks/copy/v"], "gt": ["--gt", "/work/data/demo/Annotations/v"], "n": 3}
    assert canonical_paths(relative, places) == canonical_paths(absolute, places) == {
        "masks": ["copy=<results>/masks/copy/v"], "gt": ["--gt", "<dataset>/Annotations/v"], "n": 3}
    assert canonical_paths('[{"frames": "/work/data/demo/JPEGImages/v"}]', places) == '[{"frames": "<dataset>/JPEGImages/v"}]'
    assert canonical_paths("resultsX/a", places) == "resultsX/a"  # a prefix only where a folder starts


def test_a_volatile_stamp_whose_setting_changed_too_writes_its_steady_one_first(tmp_path):
    # new frames (a new steady digest) and a folder now short of a frame (volatile) at once: once the job has made
    # its folder again, the steady stamp must already exist and be older than it, or the next run reruns it again
    stamps = Stamps(tmp_path / "results", "write")
    changed = Path(stamps.path("infer", {"video": "v"}, {"frames": "new"}, ["missing abc"]))
    steady = changed.with_name(changed.name.split(".")[0])
    assert steady.is_file() and changed.is_file() and steady.stat().st_mtime_ns <= changed.stat().st_mtime_ns
    assert stamps.path("infer", {"video": "v"}, {"frames": "new"}) == str(steady)  # complete again: no new stamp
    assert sorted(p.name for p in steady.parent.iterdir()) == sorted([steady.name, changed.name])


def test_a_dry_run_writes_its_stamps_elsewhere_and_a_cluster_job_none(tmp_path):
    dry = Stamps(tmp_path / "results", "dry")
    path = Path(dry.path("select", {"video": "v"}, {"strategy": "video"}))
    assert path.is_file() and tmp_path not in path.parents  # newer than the outputs, outside the results folder
    assert not (tmp_path / "results").exists()
    read = Stamps(tmp_path / "results", "read")
    assert not Path(read.path("select", {"video": "v"}, {"strategy": "video"})).exists()
