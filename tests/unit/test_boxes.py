"""stseg.boxes: per-object boxes of a label map (COCO's convention, absent objects recorded as absent)."""

from __future__ import annotations

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


def test_boxes_equal_pycocotools_on_the_plain_fortran_stack_of_random_label_maps():
    """The transposed encode (no Fortran copy) against pycocotools' own use: the masks stacked in Fortran order."""
    import numpy as np
    from pycocotools import mask as coco

    from stseg.boxes import label_map_boxes

    rng = np.random.default_rng(0)
    objects = [1, 2, 3, 4]
    for _ in range(200):
        height, width = (int(v) for v in rng.integers(1, 60, 2))
        labels = np.zeros((height, width), np.uint8)
        for obj in (1, 2, 3):
            if rng.random() < 0.8:
                y0, x0 = rng.integers(0, height), rng.integers(0, width)
                labels[y0:y0 + rng.integers(1, height + 1), x0:x0 + rng.integers(1, width + 1)] = obj
        labels[rng.random((height, width)) < 0.02] = 2
        rles = coco.encode(np.asfortranarray(np.stack([labels == o for o in objects], -1).astype(np.uint8)))
        for row, (x, y, w, h), area in zip(label_map_boxes(labels, objects), coco.toBbox(rles), coco.area(rles)):
            expected = (float(x), float(y), float(x + w), float(y + h), int(area), 1) if area else (0, 0)
            assert (row[1:] if area else row[5:]) == expected
