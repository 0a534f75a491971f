"""stseg.fusion: the voters' boxes of an object fused per frame (average and max fusion)."""

import numpy as np
import pytest

from stseg.fusion import box_iou, fuse_frame


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
