"""stseg.fusion: the voters' boxes of an object fused per frame (average and max fusion)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stseg.fusion import box_iou, fuse_boxes, fuse_frame


def test_box_iou_of_boxes_with_exclusive_corners():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 20, 20]], float)
    iou = box_iou(boxes)
    assert iou[0, 1] == pytest.approx(50 / 150) and iou[0, 0] == 1.0 and iou[2, 2] == 0.0  # an empty box: 0


def test_average_and_max_fusion():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [40, 40, 50, 50]], float)
    average, enclosing, agreement = fuse_frame(boxes, "agreement")
    assert enclosing.tolist() == [0, 0, 50, 50]  # max fusion: the box holding every voter's
    assert agreement == pytest.approx(1 / 3)  # two agree (IoU 1), the third agrees with none
    assert average.tolist() == [0, 0, 10, 10]  # the outlier has no agreement, so no weight
    plain, _, _ = fuse_frame(boxes, "uniform")
    assert plain.tolist() == pytest.approx([40 / 3, 40 / 3, 70 / 3, 70 / 3])
    with pytest.raises(ValueError, match="unknown fusion weighting"):
        fuse_frame(boxes, "median")


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


def box_table(rows):
    return pd.DataFrame(rows, columns=["frame", "object", "x0", "y0", "x1", "y1", "area", "present"])


def test_agreement_weighting_discounts_an_outlier():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    average, enclosing, _ = fuse_frame(boxes, "agreement")
    assert average.tolist() == [0, 0, 10, 10]
    assert enclosing.tolist() == [0, 0, 60, 60]
    uniform, _, _ = fuse_frame(boxes, "uniform")
    assert uniform.tolist() == pytest.approx([50 / 3, 50 / 3, 80 / 3, 80 / 3])


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
