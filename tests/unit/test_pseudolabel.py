"""stseg.pseudolabel: PGMR's pseudo-labels, stage by stage, on inputs whose answer is known."""

from __future__ import annotations

import numpy as np

from stseg.masks import write_label_map
from stseg.pseudolabel import box_prior, build_pseudo_labels, pseudo_label_frame, redundancy_weights
from stseg.settings import PseudoLabelSettings, defaults


# ------------------------------------------------------------------ pseudo-labels
def test_majority_vote_without_boxes():
    a = np.array([[1, 1, 0, 0]], np.uint8)
    b = np.array([[1, 0, 0, 2]], np.uint8)
    c = np.array([[0, 1, 2, 2]], np.uint8)
    cfg = defaults(PseudoLabelSettings, use_boxes=False)
    label = pseudo_label_frame([a, b, c], np.ones((3, 2)), [1, 2], None, cfg)
    assert label.tolist() == [[1, 1, 0, 2]]  # 2/3, 2/3, 1/3 < 0.5, 2/3


def test_box_prior_keeps_votes_inside_the_max_box():
    prior = box_prior((2, 1, 4, 3), (1, 0, 6, 4), (5, 8), 0.5)
    assert prior[1, 2] == 1.0 and prior[0, 1] == 0.5 and prior[4, 2] == 0 and prior[1, 7] == 0
    labels = np.ones((5, 8), np.uint8)
    cfg = defaults(PseudoLabelSettings, threshold=0.6, ring_weight=0.5)
    out = pseudo_label_frame([labels], np.ones((1, 1)), [1], {1: ((2, 1, 4, 3), (1, 0, 6, 4))}, cfg)
    assert out.sum() == 4  # only the 2x2 average box passes 0.6: the ring scores 0.5, outside 0
    assert pseudo_label_frame([labels], np.ones((1, 1)), [1], {1: None}, cfg).sum() == 0  # not kept


def test_foreground_only_model_votes_against_background():
    a = np.array([[1, 1, 0]], np.uint8)
    b = np.array([[0, 1, 1]], np.uint8)
    fg = np.array([[True, False, True]])
    cfg = defaults(PseudoLabelSettings, use_boxes=False)
    label = pseudo_label_frame([a, b], np.ones((2, 1)), [1], None, cfg, [fg], [1.0])
    # pixel 0: 1 object vote + fg (all its share to object 1) = 2/3; pixel 1: 2/3; pixel 2: 1 + 1 = 2/3
    assert label.tolist() == [[1, 1, 1]]
    label = pseudo_label_frame([a, b], np.ones((2, 1)), [1], None, cfg, [~fg], [1.0])
    assert label.tolist() == [[0, 1, 0]]  # fg says background at 0 and 2: 1/3 each


def test_redundancy_weights_share_a_vote_between_duplicates():
    same = np.array([[1, 1, 0, 0]], np.uint8)
    other = np.array([[0, 0, 1, 1]], np.uint8)
    weights = redundancy_weights(iter([[same, same, other]]), [1], power=8)
    assert weights[:, 0].tolist() == [0.5, 0.5, 1.0]


def test_pseudo_labels_of_a_video(tmp_path):
    masks = {}
    for name, shift in (("a", 0), ("b", 0), ("c", 3)):
        folder = tmp_path / name
        for t in range(3):
            labels = np.zeros((8, 8), np.uint8)
            labels[2:5, 1 + shift * (t > 0):4 + shift * (t > 0)] = 1
            write_label_map(folder / f"{t:05d}.png", labels)
        masks[name] = folder
    cfg = defaults(PseudoLabelSettings, use_boxes=False, redundancy_power=0)
    weights = build_pseudo_labels(masks, masks["a"] / "00000.png", None, tmp_path / "pseudo", cfg)
    from stseg.masks import read_label_map

    assert np.array_equal(read_label_map(tmp_path / "pseudo" / "00002.png"), read_label_map(masks["a"] / "00002.png"))
    assert weights["weight"].tolist() == [1.0, 1.0, 1.0]
