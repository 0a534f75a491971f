"""stseg.freshness: folder stamps of the user's folders, timestamps of the workflow's folder outputs."""

from __future__ import annotations

import os
from pathlib import Path

from stseg.freshness import TIMESTAMP, folder_stamp, refresh_output_stamps, refresh_stamp, remove_if_incomplete


def folder_with(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "video"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"frame " + name.encode())
        os.utime(folder / name, ns=(10**18, 10**18))
    return folder


def test_folder_stamp_follows_the_files_not_the_folder(tmp_path):
    folder = folder_with(tmp_path, ["00000.jpg", "00001.jpg"])
    stamp = folder_stamp(folder)
    (folder / TIMESTAMP).touch()  # hidden files do not count
    assert folder_stamp(folder) == stamp
    (folder / "00001.jpg").write_bytes(b"frame 00001.jpg")  # same bytes, new mtime
    assert folder_stamp(folder) != stamp
    os.utime(folder / "00001.jpg", ns=(10**18, 10**18))
    assert folder_stamp(folder) == stamp
    (folder / "00001.jpg").write_bytes(b"an edited, longer frame")
    os.utime(folder / "00001.jpg", ns=(10**18, 10**18))  # even with its old mtime: the size moved
    assert folder_stamp(folder) != stamp
    assert folder_stamp(tmp_path / "missing") == "absent"


def stamped(folder: Path, when: int) -> None:
    os.utime(folder, ns=(when, when))
    (folder / TIMESTAMP).touch()
    os.utime(folder / TIMESTAMP, ns=(when, when))


def test_refresh_stamp_moves_to_the_newest_change_inside(tmp_path):
    folder = folder_with(tmp_path, ["00000.png", "00001.png"])
    stamped(folder, 2 * 10**18)
    assert not refresh_stamp(folder)  # nothing newer than the timestamp
    os.utime(folder / "00001.png", ns=(3 * 10**18, 3 * 10**18))  # edited in place after the run
    assert refresh_stamp(folder)
    assert (folder / TIMESTAMP).stat().st_mtime_ns == 3 * 10**18
    assert not refresh_stamp(folder)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not refresh_stamp(plain)  # no timestamp: Snakemake reads the folder's mtime itself


def test_an_incomplete_folder_is_removed_and_others_refreshed(tmp_path):
    whole = folder_with(tmp_path, ["00000.png", "00001.png", "00002.png"])
    stamped(whole, 2 * 10**18)
    os.utime(whole / "00002.png", ns=(3 * 10**18, 3 * 10**18))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "00000.png").write_bytes(b"x")
    frames = ("00000", "00001", "00002")
    assert not remove_if_incomplete(whole, frames)
    removed, moved = refresh_output_stamps([(whole, frames), (broken, frames), (tmp_path / "never-made", frames)])
    assert removed == [broken] and moved == [whole]
    assert not broken.exists() and whole.is_dir()
