"""Values of every PGMR stage on inputs whose answer is known."""

import zipfile

import numpy as np
import pandas as pd
import pytest

from stseg.boxes import label_map_boxes, video_boxes
from stseg.fusion import box_iou, fuse_boxes, fuse_frame
from stseg.masks import write_label_map
from stseg.pseudolabel import box_prior, build_pseudo_labels, pseudo_label_frame, redundancy_weights
from stseg.selection import compose_per_object, rank_candidates, select
from stseg.settings import PseudoLabelSettings, defaults
from stseg.submission import SubmissionError, check_submission, write_submission


# ------------------------------------------------------------------ boxes
def test_boxes_of_known_shapes():
    labels = np.zeros((20, 30), np.uint8)
    labels[2:5, 3:9] = 1           # 3 rows x 6 columns
    labels[10, 20] = 2             # one pixel
    rows = label_map_boxes(labels, [1, 2, 3])
    assert rows[0] == (1, 3.0, 2.0, 9.0, 5.0, 18, 1)
    assert rows[1] == (2, 20.0, 10.0, 21.0, 11.0, 1, 1)
    obj, x0, y0, x1, y1, area, present = rows[2]
    assert (obj, area, present) == (3, 0, 0) and all(np.isnan([x0, y0, x1, y1]))


def test_video_box_table(tmp_path):
    for t in range(3):
        labels = np.zeros((10, 10), np.uint8)
        labels[t:t + 2, 1:3] = 1
        write_label_map(tmp_path / f"{t:05d}.png", labels)
    table = video_boxes(tmp_path, [1])
    assert table["frame"].tolist() == ["00000", "00001", "00002"]
    assert table["y0"].tolist() == [0.0, 1.0, 2.0] and table["area"].tolist() == [4, 4, 4]


# ------------------------------------------------------------------ fusion
def test_box_iou():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    iou = box_iou(boxes)
    assert iou[0, 1] == pytest.approx(50 / 150) and iou[0, 2] == 0 and iou[1, 1] == 1


def test_fusion_of_known_boxes():
    boxes = np.array([[0, 0, 10, 10], [2, 2, 12, 12]], float)
    average, enclosing, agreement = fuse_frame(boxes)
    assert average.tolist() == [1, 1, 11, 11]  # two voters: equal weights
    assert enclosing.tolist() == [0, 0, 12, 12]
    assert agreement == pytest.approx(64 / 136)


def test_agreement_weighting_discounts_an_outlier():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    average, enclosing, _ = fuse_frame(boxes, "agreement")
    assert average.tolist() == [0, 0, 10, 10]
    assert enclosing.tolist() == [0, 0, 60, 60]
    uniform, _, _ = fuse_frame(boxes, "uniform")
    assert uniform.tolist() == pytest.approx([50 / 3, 50 / 3, 80 / 3, 80 / 3])


def box_table(rows):
    return pd.DataFrame(rows, columns=["frame", "object", "x0", "y0", "x1", "y1", "area", "present"])


def test_fuse_boxes_counts_votes_and_min_votes():
    nan = np.nan
    a = box_table([("00000", 1, 0, 0, 10, 10, 100, 1), ("00001", 1, 0, 0, 10, 10, 100, 1)])
    b = box_table([("00000", 1, 2, 2, 12, 12, 100, 1), ("00001", 1, nan, nan, nan, nan, 0, 0)])
    fused = fuse_boxes({"a": a, "b": b}, min_votes=2)
    assert fused["votes"].tolist() == [2, 1]
    assert fused["kept"].tolist() == [1, 0]
    assert fused.loc[0, ["avg_x0", "max_x1"]].tolist() == [1, 12]
    assert fused.loc[1, "avg_x0"] == 0  # seen by one model: still fused, but not kept
    with pytest.raises(ValueError, match="min_votes=3 is more than the 2"):
        fuse_boxes({"a": a, "b": b}, min_votes=3)


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


# ------------------------------------------------------------------ selection
def scores_table(rows):
    return pd.DataFrame(rows, columns=["model", "object", "J", "F", "JF"])


def test_selection_per_video_and_per_object():
    scores = scores_table([
        ("a", 1, 0.9, 0.9, 0.9), ("a", 2, 0.2, 0.2, 0.2),
        ("b", 1, 0.5, 0.5, 0.5), ("b", 2, 0.7, 0.7, 0.7),
    ])
    table = select(scores, ["a", "b"], "v", 0.0)
    chosen = table[table.chosen == 1]
    assert chosen[chosen.level == "video"]["model"].tolist() == ["b"]  # 0.6 > 0.55
    assert chosen[chosen.level == "object"][["object", "model"]].values.tolist() == [[1, "a"], [2, "b"]]


def test_tie_break_prefers_higher_j_then_config_order():
    tied = scores_table([("a", 1, 0.5, 0.7, 0.6), ("b", 1, 0.6, 0.6, 0.6), ("c", 1, 0.6, 0.6, 0.6)])
    ranked = rank_candidates(tied, ["c", "b", "a"], 0.0)
    assert ranked["model"].tolist() == ["c", "b", "a"]
    ranked = rank_candidates(tied, ["a", "b", "c"], 0.0)
    assert ranked["model"].tolist() == ["b", "c", "a"]


def test_per_object_composition_overlap_rule():
    a = np.array([[1, 1, 2, 0]], np.uint8)
    b = np.array([[0, 2, 2, 2]], np.uint8)
    out = compose_per_object({1: ("a", 0.9), 2: ("b", 0.8)}, {"a": a, "b": b})
    assert out.tolist() == [[1, 1, 2, 2]]  # pixel 1 claimed by both: object 1 scored higher
    out = compose_per_object({1: ("a", 0.7), 2: ("b", 0.8)}, {"a": a, "b": b})
    assert out.tolist() == [[1, 2, 2, 2]]


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


# ------------------------------------------------------------------ report figures
def test_kendall_tau_by_hand():
    from stseg.report import kendall_tau

    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # pairs: (1,2) concordant, (1,3) concordant, (2,3) discordant -> (2 - 1) / 3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # tie in y: tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)) = (2 - 0) / sqrt(3 * 2)
    assert kendall_tau([1, 2, 3], [1, 2, 2]) == pytest.approx(2 / np.sqrt(6))
