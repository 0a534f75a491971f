"""stseg.masks: palette PNG label maps read and written exactly."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    SHARED_DATA,
)
from PIL import Image

from stseg.files import atomic_path
from stseg.masks import MaskFormatError, davis_palette, read_label_map, read_palette, write_label_map


def test_roundtrip_keeps_ids_and_palette(tmp_path):
    labels = np.zeros((7, 9), np.uint8)
    labels[1:4, 2:6] = 1
    labels[5, 8] = 3
    palette = [i % 256 for i in range(768)]
    write_label_map(tmp_path / "a.png", labels, palette)
    with Image.open(tmp_path / "a.png") as image:
        assert image.mode == "P"
    assert np.array_equal(read_label_map(tmp_path / "a.png"), labels)
    assert read_palette(tmp_path / "a.png") == palette


def test_davis_palette_matches_the_real_annotations():
    path = SHARED_DATA / "davis-fullgt" / "Annotations" / "blackswan" / "00000.png"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    assert read_palette(path)[:3 * 8] == davis_palette()[:3 * 8]
    assert davis_palette()[:12] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]


def test_same_array_same_bytes(tmp_path):
    labels = np.random.default_rng(0).integers(0, 4, (30, 40)).astype(np.uint8)
    write_label_map(tmp_path / "a.png", labels)
    write_label_map(tmp_path / "b.png", labels)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_greyscale_mask_is_refused_with_the_reason(tmp_path):
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8), "L").save(tmp_path / "grey.png")
    with pytest.raises(MaskFormatError, match=r"grey\.png.*greyscale \(L\) 0/255 mask"):
        read_label_map(tmp_path / "grey.png")
    assert read_label_map(tmp_path / "grey.png", allow_greyscale=True).max() == 255


def test_rgb_mask_is_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8), "RGB").save(tmp_path / "rgb.png")
    with pytest.raises(MaskFormatError, match=r"rgb\.png: PNG mode is 'RGB'"):
        read_label_map(tmp_path / "rgb.png")


def test_corrupt_png_names_the_file(tmp_path):
    write_label_map(tmp_path / "c.png", np.ones((20, 20), np.uint8))
    data = (tmp_path / "c.png").read_bytes()
    (tmp_path / "c.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(MaskFormatError, match=r"c\.png: cannot decode"):
        read_label_map(tmp_path / "c.png")


def test_atomic_path_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_leftovers_of_a_killed_writer_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / f".masks.{dead}.partial").mkdir()
    (tmp_path / f".masks.{dead}.partial" / "00000.png").write_bytes(b"half")
    (tmp_path / f".t.csv.{dead}.partial").write_text("half")
    from stseg.files import atomic_dir

    with atomic_dir(tmp_path / "masks") as tmp:
        (tmp / "00000.png").write_bytes(b"whole")
    with atomic_path(tmp_path / "t.csv") as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks", "t.csv"]


def test_object_ids_leave_out_background_and_void():
    from stseg.masks import object_ids

    labels = np.array([[0, 3, 255], [1, 3, 0]], np.uint8)
    assert object_ids(labels) == (1, 3)
    assert object_ids(np.zeros((2, 2), np.uint8)) == ()


def test_a_zombie_writer_counts_as_dead(tmp_path):
    """A killed writer whose parent is gone can stay a zombie under an init that does not reap; its partial goes."""
    import os
    import subprocess
    import sys
    import time

    from stseg.files import atomic_path, process_alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while time.time() < deadline:  # exited but not reaped yet: a zombie
        with open(f"/proc/{child.pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
    assert not process_alive(child.pid) and process_alive(os.getpid())
    leftover = tmp_path / f".out.txt.{child.pid}.partial"
    leftover.write_text("half")
    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("whole")
    assert not leftover.exists() and (tmp_path / "out.txt").read_text() == "whole"
    child.wait()
