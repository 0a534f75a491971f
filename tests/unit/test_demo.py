"""stseg.demo: the generated demo dataset."""

from __future__ import annotations

import numpy as np
from helpers import (
    tree_digest,
)

from stseg.demo import DEMO_VIDEOS, write_demo
from stseg.masks import read_label_map


def test_demo_is_deterministic(tmp_path):
    write_demo(tmp_path / "a", ["twins"], width=160, height=90, max_frames=4)
    write_demo(tmp_path / "b", ["twins"], width=160, height=90, max_frames=4)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_demo_layout_and_content(small_demo):
    assert len(DEMO_VIDEOS) >= 8
    frames = sorted((small_demo / "JPEGImages" / "crossing").glob("*.jpg"))
    masks = sorted((small_demo / "Annotations" / "crossing").glob("*.png"))
    assert [p.stem for p in frames] == [p.stem for p in masks] == [f"{i:05d}" for i in range(10)]
    first = read_label_map(masks[0])
    assert first.shape == (180, 320)
    assert set(np.unique(first)) == {0, 1, 2, 3}
    assert (small_demo / "ImageSets" / "demo.txt").read_text().split() == ["fast-ball", "twins", "crossing"]
