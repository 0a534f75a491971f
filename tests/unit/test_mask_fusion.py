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
    out = fuse_frame("anchor", voters, {"anchor": 1.0, "b": 1.0, "c": 1.0}, [1], "region", 0.5, 2)
    assert np.array_equal(out, BODY)  # the distractor's vote: (1 + 0) / 3 < 0.5


def test_a_strong_and_a_weak_model_disagree_the_reliable_one_decides():
    # a weak anchor and a weak voter see a distractor, a strong voter does not: uniform weights keep it
    # (2 of 3 votes), the reliabilities remove it ((0.3 + 0.3) / 1.5 = 0.4)
    voters = {"anchor": frame(WITH_DISTRACTOR), "strong": frame(BODY), "weak": frame(WITH_DISTRACTOR)}
    uniform = fuse_frame("anchor", voters, {"anchor": 1, "strong": 1, "weak": 1}, [1], "region", 0.5, 2)
    assert np.array_equal(uniform, WITH_DISTRACTOR)
    prior = pd.DataFrame({"model": ["anchor", "strong", "weak"], "score": [0.3, 0.9, 0.3]})
    weights = reliabilities(["anchor", "strong", "weak"], prior, "prior")
    assert weights == {"anchor": 0.3, "strong": 0.9, "weak": 0.3}
    assert np.array_equal(fuse_frame("anchor", voters, weights, [1], "region", 0.5, 2), BODY)
    # and two weak voters cannot outvote a strong anchor: 0.9 / (0.9 + 0.3 + 0.3) = 0.6, its distractor stays
    voters = {"anchor": frame(WITH_DISTRACTOR), "w1": frame(BODY), "w2": frame(BODY)}
    kept = fuse_frame("anchor", voters, {"anchor": 0.9, "w1": 0.3, "w2": 0.3}, [1], "region", 0.5, 2)
    assert np.array_equal(kept, WITH_DISTRACTOR)


def test_two_strong_models_each_right_on_other_frames_the_fusion_is_right_on_both(tmp_path):
    # the anchor adds a distractor on frame 1, the other strong model on frame 2, a third model sees the body: the
    # fusion removes the anchor's and never takes the other's, so it is right on both frames where each strong
    # model alone is wrong on one
    truth = [BODY, BODY, BODY]
    maps = {"anchor": [BODY, WITH_DISTRACTOR, BODY], "other": [BODY, BODY, WITH_DISTRACTOR], "third": truth}
    dirs = {}
    for name, labels_of in maps.items():
        dirs[name] = tmp_path / name
        for t, labels in enumerate(labels_of):
            write_label_map(dirs[name] / f"{t:05d}.png", labels)
    frames = ["00000", "00001", "00002"]
    weights = {"anchor": 0.8, "other": 0.7, "third": 0.4}
    fused = dict(fuse_video("anchor", dirs, weights, [1], frames, "region", 0.5, 0.02))
    assert all(np.array_equal(fused[f], truth[t]) for t, f in enumerate(frames))
    assert not np.array_equal(read_label_map(dirs["anchor"] / "00001.png"), truth[1])
    assert not np.array_equal(read_label_map(dirs["other"] / "00002.png"), truth[2])


def test_voters_that_lost_the_object_remove_nothing():
    # only voters that see no object on this frame: no region reaches a majority, so there is no evidence
    # against any region (the anchor's own vote, 0.1 / 1.1, is not a majority either)
    empty = np.zeros(SHAPE, np.uint8)
    voters = {"anchor": frame(WITH_DISTRACTOR), "w1": frame(empty), "w2": frame(empty)}
    out = fuse_frame("anchor", voters, {"anchor": 0.1, "w1": 0.5, "w2": 0.5}, [1], "region", 0.5, 2)
    assert np.array_equal(out, WITH_DISTRACTOR)


def test_only_weak_voters_that_follow_a_distractor_cannot_remove_the_body():
    voters = {"anchor": frame(WITH_DISTRACTOR), "w1": frame(DISTRACTOR), "w2": frame(DISTRACTOR)}
    out = fuse_frame("anchor", voters, {"anchor": 0.9, "w1": 0.1, "w2": 0.1}, [1], "region", 0.5, 2)
    assert np.array_equal(out, WITH_DISTRACTOR)  # the body's vote 0.9 / 1.1; nothing is ever added


def test_the_support_reaches_within_the_tolerance():
    near = square(SHAPE, 20, 38, 6)  # 2 px right of the body: a piece of the object the others outline coarsely
    anchor = BODY | near
    voters = {"anchor": frame(anchor), "b": frame(BODY), "c": frame(BODY)}
    weights = {"anchor": 1, "b": 1, "c": 1}
    assert np.array_equal(fuse_frame("anchor", voters, weights, [1], "region", 0.5, 8), anchor)  # reaches it all
    assert np.array_equal(fuse_frame("anchor", voters, weights, [1], "region", 0.5, 1), BODY)  # reaches none of it
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
    fused = dict(fuse_video("a", {"a": anchor, "m": folder}, {"a": 0.5, "m": 1.0}, [1], ["00000", "00001"],
                            "region", 0.5, 0.0))
    assert np.array_equal(fused["00001"], BODY)  # votes (0.5 + 0.6) / 1.5 on the body, 0.5 / 1.5 on the distractor


def test_reliabilities_refuse_what_they_cannot_use():
    with pytest.raises(ValueError, match="fuse_reliability"):
        reliabilities(["a"], None, "best")
    with pytest.raises(ValueError, match="needs the dataset prior"):
        reliabilities(["a"], None, "prior")
    with pytest.raises(ValueError, match="no prior reliability for model"):
        reliabilities(["a", "b"], pd.DataFrame({"model": ["a"], "score": [0.5]}), "prior")
    with pytest.raises(ValueError, match="needs the video's pseudo-label scores"):
        reliabilities(["a"], None, "video")
    with pytest.raises(ValueError, match="no video reliability for model"):
        reliabilities(["a", "b"], None, "video", {"a": 0.5})
    assert reliabilities(["a"], None, "uniform") == {"a": 1.0}
    # a model whose pseudo-label J&F is not a number (no scored frame) gets no weight
    assert reliabilities(["a", "b"], None, "video", {"a": 0.7, "b": float("nan")}) == {"a": 0.7, "b": 0.0}


def test_an_anchor_that_misses_a_part_two_strong_voters_see_gets_it_back_only_when_asked():
    arm = square(SHAPE, 24, 36, 8)  # touching the body: a part of the object
    whole = BODY | arm
    voters = {"anchor": frame(BODY), "s1": frame(whole), "s2": frame(whole)}
    weights = {"anchor": 0.8, "s1": 0.7, "s2": 0.7}
    assert np.array_equal(fuse_frame("anchor", voters, weights, [1], "region", 0.5, 2), BODY)  # nothing added
    assert np.array_equal(fuse_frame("anchor", voters, weights, [1], "region", 0.5, 2, add=True), whole)
    # one strong voter is not a majority against the anchor (0.7 / 2.2), nor are two weak ones (0.2 / 1.2)
    alone = {"anchor": frame(BODY), "s1": frame(whole), "s2": frame(BODY)}
    assert np.array_equal(fuse_frame("anchor", alone, weights, [1], "region", 0.5, 2, add=True), BODY)
    weak = fuse_frame("anchor", voters, {"anchor": 0.8, "s1": 0.1, "s2": 0.1}, [1], "region", 0.5, 2, add=True)
    assert np.array_equal(weak, BODY)
    # a region of its own far from the anchor's object is never added, however many voters see it
    far = {"anchor": frame(BODY), "s1": frame(WITH_DISTRACTOR), "s2": frame(WITH_DISTRACTOR)}
    assert np.array_equal(fuse_frame("anchor", far, weights, [1], "region", 0.5, 2, add=True), BODY)


def test_a_region_the_voters_see_as_another_object_is_left_to_the_anchor():
    # the anchor calls a region object 1 that both voters call object 2: they dispute the label, not that it is an
    # object, so it stays; a region they see as nothing is removed
    other = square(SHAPE, 5, 75, 10, value=2)
    anchor = WITH_DISTRACTOR.copy()
    anchor[40:50, 70:80] = 1  # and a region nobody sees
    voters = {"anchor": frame(anchor), "b": frame(BODY | other), "c": frame(BODY | other)}
    out = fuse_frame("anchor", voters, {"anchor": 1.0, "b": 1.0, "c": 1.0}, [1, 2], "region", 0.5, 2)
    assert np.array_equal(out, WITH_DISTRACTOR)


def test_the_fusion_counts_what_it_kept_removed_and_added(tmp_path):
    from stseg.mask_fusion import FusionChanges

    changes = FusionChanges([1])
    anchor = BODY.copy()
    anchor[0:2, 0:3] = 1  # 6 pixels nobody sees, removed
    fused = BODY | square(SHAPE, 24, 36, 2)  # 4 pixels added
    changes.count(anchor, fused)
    assert changes.of(1) == (int(BODY.sum()), 6, 4)
