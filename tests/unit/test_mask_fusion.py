"""stseg.mask_fusion: the reliability-weighted fusion on hand-made frames whose right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stseg.mask_fusion import (
    VoterFrame,
    fuse_frame,
    fuse_pixels,
    fuse_video,
    reliabilities,
    support,
    support_radius,
)
from stseg.masks import read_label_map, write_label_map
from stseg.probabilities import write_probabilities


def square(shape, y, x, size, value=1, into=None):
    out = np.zeros(shape, np.uint8) if into is None else into
    out[y:y + size, x:x + size] = value
    return out


SHAPE = (60, 100)
BODY = square(SHAPE, 20, 20, 16)  # the object
DISTRACTOR = square(SHAPE, 5, 75, 10)  # a far-away region that is not the object
WITH_DISTRACTOR = BODY | DISTRACTOR


def frame(labels, probabilities=None):
    return VoterFrame(labels, probabilities)


def test_a_distractor_only_the_anchor_sees_is_removed_the_body_is_kept():
    voters = {"anchor": frame(WITH_DISTRACTOR), "b": frame(BODY), "c": frame(BODY)}
    out = fuse_frame("anchor", voters, {"anchor": 1.0, "b": 1.0, "c": 1.0}, [1], "region", 0.1, 2)
    assert np.array_equal(out, BODY)


def test_a_strong_and_a_weak_voter_disagree_the_reliable_one_decides():
    # the weak voter sees the distractor too; uniform weights keep it (support 0.5), reliabilities remove it
    voters = {"anchor": frame(WITH_DISTRACTOR), "strong": frame(BODY), "weak": frame(WITH_DISTRACTOR)}
    uniform = fuse_frame("anchor", voters, {"anchor": 1, "strong": 1, "weak": 1}, [1], "region", 0.1, 2)
    assert np.array_equal(uniform, WITH_DISTRACTOR)
    prior = pd.DataFrame({"model": ["anchor", "strong", "weak"], "score": [0.9, 0.9, 0.05]})
    weights = reliabilities(["anchor", "strong", "weak"], prior, "prior")
    assert weights == {"anchor": 0.9, "strong": 0.9, "weak": 0.05}
    fused = fuse_frame("anchor", voters, weights, [1], "region", 0.1, 2)
    assert np.array_equal(fused, BODY)  # support 0.05 / 0.95 = 0.053 < 0.1


def test_two_strong_models_each_right_on_other_frames_the_fusion_is_right_on_both(tmp_path):
    # the anchor adds a distractor on frame 1, the other strong model on frame 2: the fusion removes the anchor's
    # and never takes the other's, so it is right on both frames where each model alone is wrong on one
    truth = [BODY, BODY, BODY]
    anchor = [BODY, WITH_DISTRACTOR, BODY]
    other = [BODY, BODY, WITH_DISTRACTOR]
    dirs = {}
    for name, maps in (("anchor", anchor), ("other", other)):
        dirs[name] = tmp_path / name
        for t, labels in enumerate(maps):
            write_label_map(dirs[name] / f"{t:05d}.png", labels)
    frames = ["00000", "00001", "00002"]
    fused = dict(fuse_video("anchor", dirs, {"anchor": 0.8, "other": 0.7}, [1], frames, "region", 0.1, 0.02))
    assert all(np.array_equal(fused[f], truth[t]) for t, f in enumerate(frames))
    assert not np.array_equal(read_label_map(dirs["anchor"] / "00001.png"), truth[1])
    assert not np.array_equal(read_label_map(dirs["other"] / "00002.png"), truth[2])


def test_voters_that_lost_the_object_remove_nothing():
    # only weak voters, and they see no object on this frame: there is no evidence against any region
    empty = np.zeros(SHAPE, np.uint8)
    voters = {"anchor": frame(WITH_DISTRACTOR), "w1": frame(empty), "w2": frame(empty)}
    out = fuse_frame("anchor", voters, {"anchor": 0.5, "w1": 0.1, "w2": 0.1}, [1], "region", 0.1, 2)
    assert np.array_equal(out, WITH_DISTRACTOR)


def test_only_weak_voters_that_see_a_distractor_cannot_remove_the_body():
    # the weak voters both follow the distractor: the body keeps the anchor's answer (the best-supported region
    # is kept, and nothing is ever added), so the fusion is the anchor's masks here, never the voters'
    voters = {"anchor": frame(WITH_DISTRACTOR), "w1": frame(DISTRACTOR), "w2": frame(DISTRACTOR)}
    out = fuse_frame("anchor", voters, {"anchor": 0.9, "w1": 0.1, "w2": 0.1}, [1], "region", 0.1, 2)
    assert np.array_equal(out, DISTRACTOR) or np.array_equal(out, WITH_DISTRACTOR)
    assert np.count_nonzero(out & ~WITH_DISTRACTOR.astype(bool)) == 0  # nothing added


def test_the_support_reaches_within_the_tolerance():
    near = square(SHAPE, 20, 38, 6)  # 2 px right of the body: a piece of the object the others outline coarsely
    anchor = BODY | near
    voters = {"anchor": frame(anchor), "b": frame(BODY)}
    assert np.array_equal(fuse_frame("anchor", voters, {"anchor": 1, "b": 1}, [1], "region", 0.1, 3), anchor)
    assert np.array_equal(fuse_frame("anchor", voters, {"anchor": 1, "b": 1}, [1], "region", 0.1, 1), BODY)
    assert support_radius(480, 854, 0.016) == 16 and support_radius(1080, 1920, 0.016) == 36


def test_probabilities_are_fused_as_the_formula_says():
    # two voters' probabilities at one pixel, weights 3 and 1, no reach: (3 * 0.8 + 1 * 0.2) / 4 = 0.65
    labels = np.zeros((3, 3), np.uint8)
    p1 = np.full((3, 3), 0.8, np.float32)
    p2 = np.full((3, 3), 0.2, np.float32)
    p2[0, 0] = 1.0  # the reach: with R = 1 the pixels next to (0, 0) (a disk: not the diagonal) see its 1.0
    voters = [frame(labels, {1: p1}), frame(labels, {1: p2})]
    s0 = support(voters, [3.0, 1.0], 1, slice(0, 3), slice(0, 3), 0)
    assert s0[1, 1] == pytest.approx(0.65) and s0[0, 0] == pytest.approx((3 * 0.8 + 1.0) / 4)
    s1 = support(voters, [3.0, 1.0], 1, slice(0, 3), slice(0, 3), 1)
    assert s1[0, 1] == pytest.approx((3 * 0.8 + 1.0) / 4) and s1[1, 0] == pytest.approx((3 * 0.8 + 1.0) / 4)
    assert s1[1, 1] == pytest.approx(0.65) and s1[2, 2] == pytest.approx(0.65)
    # the pixel vote: the largest weighted mean if it reaches 0.5
    vote = fuse_pixels([frame(labels, {1: p1, 2: np.full((3, 3), 0.1, np.float32)}), frame(labels, {1: p2})],
                       [3.0, 1.0], [1, 2])
    assert vote[1, 1] == 1  # object 1: 0.65; object 2: (3 * 0.1 + 0) / 4 = 0.075


def test_probabilities_beside_the_masks_are_read(tmp_path):
    folder = tmp_path / "m"
    write_label_map(folder / "00000.png", BODY)
    write_label_map(folder / "00001.png", np.zeros(SHAPE, np.uint8))  # the hard mask says nothing ...
    probs = np.zeros(SHAPE, np.float32)
    probs[BODY > 0] = 0.6  # ... its probabilities say 0.6 on the body
    (folder / "probs").mkdir()
    write_probabilities(folder / "probs" / "00001.npz", {1: probs})
    anchor = tmp_path / "a"
    write_label_map(anchor / "00000.png", BODY)
    write_label_map(anchor / "00001.png", WITH_DISTRACTOR)
    fused = dict(fuse_video("a", {"a": anchor, "m": folder}, {"a": 1.0, "m": 1.0}, [1], ["00000", "00001"],
                            "region", 0.5, 0.0))
    assert np.array_equal(fused["00001"], BODY)  # support 0.6 on the body, 0 on the distractor (< 0.5)


def test_reliabilities_refuse_what_they_cannot_use():
    with pytest.raises(ValueError, match="fuse_reliability"):
        reliabilities(["a"], None, "best")
    with pytest.raises(ValueError, match="needs the dataset prior"):
        reliabilities(["a"], None, "prior")
    with pytest.raises(ValueError, match="no score for voter"):
        reliabilities(["a", "b"], pd.DataFrame({"model": ["a"], "score": [0.5]}), "prior")
    assert reliabilities(["a"], None, "uniform") == {"a": 1.0}
