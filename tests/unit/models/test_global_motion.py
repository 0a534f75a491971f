"""stseg.models.global_motion: the camera-motion warp."""

from __future__ import annotations

from stseg.inference import run_model
from stseg.metrics import score_video


def mean_j(gt_dir, pred_dir):
    return float(score_video(gt_dir, pred_dir).j.mean())


def test_global_motion_follows_a_camera_pan(small_demo, tmp_path):
    from stseg.demo import write_demo

    root = tmp_path / "data"
    write_demo(root, ["pan-rigid"], width=427, height=240, max_frames=20)
    scores = {}
    for model in ("copy", "global"):
        out = tmp_path / model
        run_model(model, {}, root / "JPEGImages" / "pan-rigid", root / "Annotations" / "pan-rigid" / "00000.png", out, progress=False)
        scores[model] = mean_j(root / "Annotations" / "pan-rigid", out)
    assert scores["global"] > 0.9 > scores["copy"]
