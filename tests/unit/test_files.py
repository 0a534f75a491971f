"""stseg.files: outputs that appear only when complete, and leftovers of killed writers."""

from __future__ import annotations

import os

import pytest

from stseg.files import atomic_dir, atomic_path, glob_escape, process_alive


def test_atomic_path_appears_only_on_success(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with atomic_path(target) as tmp:
        tmp.write_text("partial")
        assert not target.exists() and tmp.name.startswith(".table.csv.") and tmp.name.endswith(".partial")
    assert target.read_text() == "partial"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("broken")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "partial" and not list(target.parent.glob(".*partial"))


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    target = tmp_path / "masks"
    with atomic_dir(target) as tmp:
        (tmp / "00000.png").write_bytes(b"a")
    with atomic_dir(target) as tmp:
        (tmp / "00001.png").write_bytes(b"b")
    assert sorted(p.name for p in target.iterdir()) == ["00001.png"]


def test_a_dead_writers_partial_is_removed_by_the_next_writer(tmp_path):
    dead = 2**22 + 12345  # above the usual pid range
    assert not process_alive(dead) and process_alive(os.getpid())
    leftover = tmp_path / f".table.csv.{dead}.partial"
    leftover.write_text("left by a killed job")
    with atomic_path(tmp_path / "table.csv") as tmp:
        tmp.write_text("new")
    assert not leftover.exists() and (tmp_path / "table.csv").read_text() == "new"


def test_glob_escape_takes_a_name_literally(tmp_path):
    (tmp_path / "a[1].log").write_text("x")
    (tmp_path / "a1.log").write_text("y")
    assert [p.name for p in tmp_path.glob(glob_escape("a[1]") + ".log")] == ["a[1].log"]
