"""stseg.freshness: the stamps of the user's folders (their files at any depth) and files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stseg.freshness import ClockSkewError, check_clock, file_stamp, folder_stamp


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
    (folder / ".snakemake_timestamp").touch()  # hidden files do not count
    assert folder_stamp(folder) == stamp
    (folder / "00001.jpg").write_bytes(b"frame 00001.jpg")  # same bytes, new mtime
    assert folder_stamp(folder) != stamp
    os.utime(folder / "00001.jpg", ns=(10**18, 10**18))
    assert folder_stamp(folder) == stamp
    (folder / "00001.jpg").write_bytes(b"an edited, longer frame")
    os.utime(folder / "00001.jpg", ns=(10**18, 10**18))  # even with its old mtime: the size moved
    assert folder_stamp(folder) != stamp
    assert folder_stamp(tmp_path / "missing") == "absent"


def test_a_file_stamp_is_its_label_size_and_mtime_or_absent(tmp_path):
    path = tmp_path / "00000.png"
    path.write_bytes(b"12345")
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))
    assert file_stamp(str(path)) == f"{path}:5:2000000000"
    assert file_stamp(str(path), "00000.png") == "00000.png:5:2000000000"
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    assert file_stamp(str(tmp_path / "link.png"), "link.png") == f"{tmp_path / 'link.png'}:absent"


def test_folder_stamp_sees_files_at_any_depth(tmp_path):
    # a precomputed model's probabilities, probs/<frame>.npz, edited in place: the stamp moves
    folder = folder_with(tmp_path, ["00000.png", "00001.png"])
    (folder / "probs").mkdir()
    (folder / "probs" / "00001.npz").write_bytes(b"probabilities")
    os.utime(folder / "probs" / "00001.npz", ns=(10**18, 10**18))
    stamp = folder_stamp(folder)
    (folder / "probs" / "00001.npz").write_bytes(b"edited probabilities")
    os.utime(folder / "probs" / "00001.npz", ns=(10**18, 10**18))
    assert folder_stamp(folder) != stamp
    (folder / "probs" / ".00001.npz.123.partial").write_bytes(b"x")  # a writer's partial: hidden, not counted
    edited = folder_stamp(folder)
    assert folder_stamp(folder) == edited


def test_inputs_dated_in_the_future_are_refused_with_the_newest_named(tmp_path):
    now = time.time()
    files = [tmp_path / name for name in ("a.jpg", "b.png", "c.png")]
    for path in files:
        path.write_bytes(b"x")
    check_clock([str(p) for p in files], tmp_path, now=now + 5)  # all in the past: nothing to say
    os.utime(files[1], (now + 3600, now + 3600))
    os.utime(files[2], (now + 7200, now + 7200))
    with pytest.raises(ClockSkewError) as error:
        check_clock([str(p) for p in files] + [str(tmp_path / "absent.png")], tmp_path, now=now)
    message = str(error.value)
    assert message.startswith(f"{files[2]} is dated ") and "2.0 h ahead of this machine's clock" in message
    assert "(and 1 other input(s))" in message and f"find {tmp_path} -newermt now -exec touch -h {{}} +" in message
    check_clock([str(files[2])], tmp_path, now=now + 7200 - 0.5)  # within the second of slack
