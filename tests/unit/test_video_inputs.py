"""stseg.video_inputs: what the jobs read of the dataset, and stamps that follow what a restore changes."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stseg.dataset import DatasetError, VideoInfo
from stseg.masks import write_label_map
from stseg.video_inputs import VideoInputs


def test_a_videos_annotations_ground_truth_and_their_stamps(small_demo, tmp_path):
    info = VideoInfo("twins", tuple(f"{t:05d}" for t in range(10)), 320, 180, (1, 2), True)
    inputs = VideoInputs(small_demo, {"twins": info})
    assert inputs.given_annotations("twins") == [str(small_demo / "Annotations" / "twins" / "00000.png")]
    assert len(inputs.truth_files("twins")) == 10 and inputs.truth_args("twins") == ["--gt", inputs.annotation_dir("twins")]
    assert VideoInputs(small_demo, {"twins": info}, "no").truth_files("twins") == []
    sparse = VideoInfo("s", info.frames, 320, 180, (1,), False, ((2, "00004"),))
    inputs = VideoInputs(tmp_path, {"s": sparse})
    assert [p[-9:] for p in inputs.given_annotations("s")] == ["00000.png", "00004.png"]
    with pytest.raises(DatasetError, match="dataset.ground_truth is 'yes' but not every frame is annotated"):
        VideoInputs(tmp_path, {"s": sparse}, "yes").has_ground_truth("s")
    # an annotation replaced by one with an older mtime changes the stamp
    for frame in ("00000", "00004"):
        write_label_map(tmp_path / "Annotations" / "s" / f"{frame}.png", np.ones((4, 4), np.uint8))
    before = inputs.annotation_stamp("s")
    path = tmp_path / "Annotations" / "s" / "00004.png"
    stat = path.stat()
    write_label_map(path, np.full((4, 4), 2, np.uint8))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**12))
    assert inputs.annotation_stamp("s") != before
