"""stseg.inference: a model run on a video's frames, its masks written atomically."""

from __future__ import annotations

import numpy as np
import pytest

from stseg.inference import run_model
from stseg.masks import read_label_map, read_palette

BUILTINS = ["copy", "flow", "global", "appearance"]


@pytest.mark.parametrize("model", BUILTINS)
def test_builtin_writes_every_frame(model, small_demo, tmp_path):
    video = "crossing"
    annotation = small_demo / "Annotations" / video / "00000.png"
    out = tmp_path / model / video
    stats = run_model(model, {}, small_demo / "JPEGImages" / video, annotation, out, progress=False)
    files = sorted(out.glob("*.png"))
    assert [p.stem for p in files] == [f"{i:05d}" for i in range(10)]
    assert stats["frames"] == 10
    assert np.array_equal(read_label_map(files[0]), read_label_map(annotation))
    assert read_palette(files[3]) == read_palette(annotation)
    for path in files:
        assert set(np.unique(read_label_map(path))) <= {0, 1, 2, 3}
    assert not list(tmp_path.glob(f"{model}/.*partial"))


def test_corrupt_frame_is_named(small_demo, tmp_path):
    import shutil

    from stseg.dataset import DatasetError

    shutil.copytree(small_demo / "JPEGImages" / "twins", tmp_path / "frames")
    data = (tmp_path / "frames" / "00005.jpg").read_bytes()
    (tmp_path / "frames" / "00005.jpg").write_bytes(data[:20])
    with pytest.raises(DatasetError, match=r"00005.jpg: cannot decode this JPEG"):
        run_model("copy", {}, tmp_path / "frames", small_demo / "Annotations" / "twins" / "00000.png", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
