"""stseg.submission: the MOSE zip, reproducible and checked as the scorer reads it."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from stseg.masks import write_label_map
from stseg.submission import SubmissionError, check_submission, write_submission


def final_masks(root, video, frames=3, objects=(1, 2)):
    for t in range(frames):
        labels = np.zeros((8, 12), np.uint8)
        for k, obj in enumerate(objects):
            labels[k:k + 2, t:t + 3] = obj
        write_label_map(root / video / f"{t:05d}.png", labels)


def test_the_zip_holds_every_frame_and_its_bytes_do_not_depend_on_time(tmp_path):
    final_masks(tmp_path / "final", "b")
    final_masks(tmp_path / "final", "a")
    assert write_submission(tmp_path / "final", ["b", "a"], tmp_path / "one.zip") == 6
    for png in (tmp_path / "final").rglob("*.png"):
        png.touch()  # a later run: new mtimes, the same masks
    write_submission(tmp_path / "final", ["a", "b"], tmp_path / "two.zip")
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("one.zip", "two.zip")]
    assert digest[0] == digest[1]
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist()[:3] == ["a/00000.png", "a/00001.png", "a/00002.png"]
    check_submission(tmp_path / "one.zip", {v: ([f"{t:05d}" for t in range(3)], (12, 8), [1, 2]) for v in ("a", "b")})


def test_a_missing_frame_or_a_foreign_id_is_named(tmp_path):
    final_masks(tmp_path / "final", "a", objects=(1, 5))
    write_submission(tmp_path / "final", ["a"], tmp_path / "s.zip")
    with pytest.raises(SubmissionError) as error:
        check_submission(tmp_path / "s.zip", {"a": ([f"{t:05d}" for t in range(4)], (12, 8), [1, 2])})
    assert "missing a/00003.png" in str(error.value) and "5" in str(error.value)
    with pytest.raises(SubmissionError, match="no final masks for video 'c'"):
        write_submission(tmp_path / "final", ["c"], tmp_path / "c.zip")


# ------------------------------------------------------------------ submission
def test_submission_zip_is_complete_and_reproducible(tmp_path):
    for video in ("v1", "v2"):
        for t in range(3):
            labels = np.zeros((6, 9), np.uint8)
            labels[t, 1:4] = 1
            write_label_map(tmp_path / "final" / video / f"{t:05d}.png", labels)
    write_submission(tmp_path / "final", ["v2", "v1"], tmp_path / "a.zip")
    write_submission(tmp_path / "final", ["v1", "v2"], tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    expected = {v: ([f"{t:05d}" for t in range(3)], (9, 6), [1]) for v in ("v1", "v2")}
    check_submission(tmp_path / "a.zip", expected)
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist()[:2] == ["v1/00000.png", "v1/00001.png"]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    expected["v1"] = ([f"{t:05d}" for t in range(4)], (9, 6), [1])
    with pytest.raises(SubmissionError, match="missing v1/00003.png"):
        check_submission(tmp_path / "a.zip", expected)
