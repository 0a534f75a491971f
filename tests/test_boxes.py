"""stseg.boxes: per-object boxes of a label map (COCO's convention, absent objects recorded as absent)."""

import numpy as np

from stseg.boxes import BOX_COLUMNS, label_map_boxes, video_boxes
from stseg.masks import write_label_map


def test_boxes_are_cocos_and_an_absent_object_has_none(tmp_path):
    labels = np.zeros((10, 20), np.uint8)
    labels[2:5, 3:9] = 1  # rows 2..4, columns 3..8
    rows = label_map_boxes(labels, [1, 2])
    assert rows[0] == (1, 3.0, 2.0, 9.0, 5.0, 18, 1)  # x1, y1 exclusive; 3 x 6 pixels
    assert rows[1][0] == 2 and rows[1][-1] == 0 and rows[1][-2] == 0 and all(np.isnan(v) for v in rows[1][1:5])
    write_label_map(tmp_path / "v" / "00000.png", labels)
    write_label_map(tmp_path / "v" / "00001.png", np.zeros_like(labels))
    table = video_boxes(tmp_path / "v", [1, 2])
    assert list(table.columns) == BOX_COLUMNS and len(table) == 4
    assert table[table["frame"] == "00001"]["present"].tolist() == [0, 0]
