"""stseg.annotation: the first frame's objects and those first annotated on later frames."""

from __future__ import annotations

import numpy as np
import pytest

from stseg.annotation import Annotation, AnnotationError, read_annotation
from stseg.masks import write_label_map


def label_map(boxes: dict[int, tuple[int, int, int, int]], shape=(20, 30)) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    for obj, (y0, y1, x0, x1) in boxes.items():
        labels[y0:y1, x0:x1] = obj
    return labels


def test_later_annotations_add_only_their_new_objects(tmp_path):
    write_label_map(tmp_path / "00000.png", label_map({1: (0, 5, 0, 5)}))
    write_label_map(tmp_path / "00004.png", label_map({1: (10, 15, 0, 5), 3: (0, 5, 10, 20)}))  # 1 again: not used
    write_label_map(tmp_path / "00007.png", label_map({2: (10, 20, 20, 30), 3: (0, 2, 0, 2)}))
    given = read_annotation([tmp_path / "00000.png", tmp_path / "00004.png", tmp_path / "00007.png"])
    assert given.first_objects == (1,) and given.objects == (1, 2, 3)
    assert given.starts == {1: "00000", 3: "00004", 2: "00007"}
    assert sorted(given.later) == ["00004", "00007"]
    assert np.array_equal(given.later["00004"], label_map({3: (0, 5, 10, 20)}))
    assert np.array_equal(given.later["00007"], label_map({2: (10, 20, 20, 30)}))
    assert given.later_by_index(["00000", "00001", "00002", "00003", "00004", "00005", "00006", "00007"]).keys() == {4, 7}
    predicted = label_map({1: (0, 20, 0, 30)})
    pasted = given.paste("00004", predicted)
    assert (pasted[0:5, 10:20] == 3).all() and (pasted[10:15, 0:5] == 1).all()  # the known object is not overwritten
    assert given.paste("00005", predicted) is predicted


def test_a_single_path_is_the_first_frame_only(tmp_path):
    write_label_map(tmp_path / "00000.png", label_map({1: (0, 5, 0, 5), 2: (6, 9, 6, 9)}))
    given = read_annotation(str(tmp_path / "00000.png"))
    assert given.objects == (1, 2) and given.later == {} and given.starts == {1: "00000", 2: "00000"}


def test_later_annotations_out_of_order_or_of_another_size_are_refused(tmp_path):
    write_label_map(tmp_path / "00003.png", label_map({1: (0, 5, 0, 5)}))
    write_label_map(tmp_path / "00001.png", label_map({2: (0, 5, 0, 5)}))
    write_label_map(tmp_path / "00005.png", label_map({2: (0, 5, 0, 5)}, shape=(10, 10)))
    with pytest.raises(AnnotationError, match=r"00001.png: later annotations must follow the first one in frame order"):
        read_annotation([tmp_path / "00003.png", tmp_path / "00001.png"])
    with pytest.raises(AnnotationError, match=r"00005.png: annotation size 10x10 differs from"):
        read_annotation([tmp_path / "00003.png", tmp_path / "00005.png"])
    orphan = Annotation(frame="00003", labels=np.zeros((2, 2), np.uint8), palette=[], later={"00009": np.ones((2, 2), np.uint8)})
    with pytest.raises(AnnotationError, match=r"annotation\(s\) for frame\(s\) \['00009'\] have no frame in the video"):
        orphan.later_by_index(["00003", "00004"])
