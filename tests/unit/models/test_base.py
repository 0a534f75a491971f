"""stseg.models.base: the model protocol; objects first annotated later added by every streaming model."""

from __future__ import annotations

import numpy as np
import pytest

from stseg.inference import run_model
from stseg.masks import read_label_map

BUILTINS = ["copy", "flow", "global", "appearance"]


@pytest.fixture
def sparse_crossing(small_demo, tmp_path):
    """The demo's 'crossing' with object 3 left out of frame 0 and given on frame 4 (its ground truth there)."""
    import shutil

    from stseg.masks import write_label_map

    root = tmp_path / "sparse"
    shutil.copytree(small_demo / "JPEGImages" / "crossing", root / "JPEGImages" / "crossing")
    source = small_demo / "Annotations" / "crossing"
    (root / "Annotations" / "crossing").mkdir(parents=True)
    first, later = read_label_map(source / "00000.png"), read_label_map(source / "00004.png")
    write_label_map(root / "Annotations" / "crossing" / "00000.png", np.where(first == 3, 0, first).astype(np.uint8))
    write_label_map(root / "Annotations" / "crossing" / "00004.png", np.where(later == 3, 3, 0).astype(np.uint8))
    return root, source


@pytest.mark.parametrize("model", BUILTINS)
def test_an_object_first_annotated_later_is_added_at_its_frame(model, sparse_crossing, tmp_path):
    root, source = sparse_crossing
    given = [root / "Annotations" / "crossing" / f"{f}.png" for f in ("00000", "00004")]
    out = tmp_path / model
    run_model(model, {}, root / "JPEGImages" / "crossing", given, out, progress=False)
    maps = {p.stem: read_label_map(p) for p in sorted(out.glob("*.png"))}
    assert all(3 not in np.unique(maps[f"{t:05d}"]) for t in range(4))
    truth = read_label_map(source / "00004.png") == 3
    assert np.array_equal(maps["00004"] == 3, truth)  # its given mask, as frame 0 is the annotation
    assert all(3 in np.unique(maps[f"{t:05d}"]) for t in range(5, 10))  # and followed after it
    plain = tmp_path / "plain"
    run_model(model, {}, root / "JPEGImages" / "crossing", given[:1], plain, progress=False)
    for t in range(4):  # before the new object nothing changes
        assert np.array_equal(maps[f"{t:05d}"], read_label_map(plain / f"{t:05d}.png"))
