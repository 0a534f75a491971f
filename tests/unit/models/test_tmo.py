"""stseg.models.tmo: TMO's flow images, and its masks equal to its own run.py."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    run_python,
    shared_dataset,
    upstream,
)

from stseg.masks import read_label_map
from stseg.models.tmo import flow_image

torch = pytest.importorskip("torch", reason="torch is not installed (the external-model tests need it)")


def test_flow_image_encoding():
    still = flow_image(np.zeros((2, 2, 2), np.float32))
    assert (still == 255).all()  # no motion: white, as in RAFT's renderings
    right = np.zeros((1, 2, 2), np.float32)
    right[0, 1, 0] = 3.0  # one pixel moving right at full speed
    image = flow_image(right)
    assert image[0, 0].tolist() == [255, 255, 255]
    assert image[0, 1].tolist() == [255, 0, 0]  # hue 0 = red, fully saturated
    down = np.zeros((1, 1, 2), np.float32)
    down[0, 0, 1] = 1.0
    assert flow_image(down)[0, 0].tolist() == [127, 255, 0]  # +y (down): hue 90 degrees, chartreuse


#: TMO's run.py has no options: its test stage, DAVIS part, as its __main__ runs it (model built, weights loaded
#: from weights/TMO_rn101.pth, no_grad, test_davis), from a folder whose ../DB/VOS/DAVIS holds the data
TMO_TEST_STAGE = """
import runpy, sys, torch
from stseg.models.upstream import TORCHVISION_RESNET101, cuda_calls_on_cpu, offline_backbones
cuda_calls_on_cpu(); offline_backbones(TORCHVISION_RESNET101)
sys.path.insert(0, {repo!r}); run = runpy.run_path({repo!r} + "/run.py", run_name="tmo_run")
model = run["TMO"]("rn101", False).eval()
model.load_state_dict(torch.load("weights/TMO_rn101.pth", map_location="cpu"))
with torch.no_grad():
    run["test_davis"](model)
"""


@pytest.mark.slow
def test_tmo_gives_the_masks_of_its_run_script(tmp_path):
    """TMO with a folder of flow images equals its own run.py test stage (DAVIS 2016 layout, the same flow
    images) on a real video, every frame after the first, one thread."""
    import json
    import shutil

    from PIL import Image

    from stseg.models.tmo import opencv_flows

    repo, python = upstream("tmo")
    source, video, frames = shared_dataset("davis-multiobj"), "horsejump-high", 9
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "STSEG_CACHE": str(tmp_path / "cache")}
    davis = tmp_path / "DB" / "VOS" / "DAVIS"
    for sub in ("JPEGImages/480p", "JPEGFlows/480p", "Annotations/480p"):
        (davis / sub / video).mkdir(parents=True)
    for t in range(frames):
        shutil.copy(source / "JPEGImages" / video / f"{t:05d}.jpg", davis / "JPEGImages/480p" / video)
        shutil.copy(source / "Annotations_union" / video / f"{t:05d}.png", davis / "Annotations/480p" / video)
    files = sorted((davis / "JPEGImages/480p" / video).glob("*.jpg"))
    for path, flow in zip(files, opencv_flows(files)):  # any flow images: both sides read the same files
        Image.fromarray(flow).save(davis / "JPEGFlows/480p" / video / f"{path.stem}.jpg", quality=95)
    (davis / "ImageSets" / "2016").mkdir(parents=True)
    (davis / "ImageSets" / "2016" / "val.txt").write_text(video + "\n")
    work = tmp_path / "work"
    (work / "weights").mkdir(parents=True)
    checkpoint = work / "weights" / "TMO_rn101.pth"
    run_python(python, "-c", f"from stseg.models.tmo import write_random_checkpoint; "
               f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env=one_thread)
    run_python(python, "-c", TMO_TEST_STAGE.format(repo=repo), cwd=work, env=one_thread)
    theirs = work / "outputs" / "DAVIS16_val" / video
    ours = tmp_path / "stseg"
    options = {"repo": repo, "checkpoint": str(checkpoint), "device": "cpu", "flow": str(davis / "JPEGFlows/480p")}
    run_python(python, "-m", "stseg.cli", "infer", "--model-type", "tmo", "--quiet", "--options", json.dumps(options),
               "--frames", str(davis / "JPEGImages/480p" / video), "--annotation",
               str(source / "Annotations" / video / "00000.png"), "--out", str(ours), env=one_thread)
    for t in range(1, frames):
        mine = read_label_map(ours / f"{t:05d}.png", allow_greyscale=True) > 0
        reference = read_label_map(theirs / f"{t:05d}.png", allow_greyscale=True) > 0
        assert int((mine != reference).sum()) == 0, f"tmo frame {t}: {(mine != reference).sum()} pixels differ"
    assert mine.any() and not mine.all()
