"""stseg.models.flow: DIS optical-flow propagation on real video."""

from __future__ import annotations

from helpers import (
    shared_dataset,
)

from stseg.inference import run_model
from stseg.metrics import score_video


def mean_j(gt_dir, pred_dir):
    return float(score_video(gt_dir, pred_dir).j.mean())


def test_flow_beats_first_mask_copy_on_real_davis(tmp_path):
    root = shared_dataset("davis-fullgt")
    results = {}
    for model in ("copy", "flow"):
        values = []
        for video in ("blackswan", "car-shadow"):
            out = tmp_path / model / video
            run_model(model, {}, root / "JPEGImages" / video, root / "Annotations" / video / "00000.png", out, progress=False)
            values.append(mean_j(root / "Annotations" / video, out))
        results[model] = values
    # flow follows the swan and the car; copy keeps the first frame's position
    for flow_j, copy_j in zip(results["flow"], results["copy"]):
        assert flow_j > copy_j + 0.1
    assert min(results["flow"]) > 0.55
