"""stseg.models.sam3: SAM 3's tracker with mask prompts, its masks equal to SAM 3's own tracking.

The equality test runs SAM 3 itself from the ``sam3`` package (tests/sam3_reference.py: its video model at the
builder's defaults, random weights, the notebook's tracking loop, its video inference's output step) and the
``sam3`` job through the whole workflow, on a real two-object DAVIS video of 3 frames, on the CPU
(``stseg.models.sam3.cuda_on_cpu``).  SAM 3's backbone takes about a minute per 1008-pixel frame on two cores,
so the two runs share each distinct frame's backbone output (tests/sam3_features.py); everything after it runs
in both.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import MODELS, REPO, shared_dataset, snakemake

from stseg.masks import read_label_map

pytest.importorskip("sam3", reason='SAM 3 is not installed (pip install "stseg[sam3]")')

VIDEO, FRAMES = "horsejump-high", 3
TESTS = REPO / "tests"


def test_release_checkpoint_keys_map_onto_the_tracker_with_its_backbone():
    """sam3.pt holds the video model: the tracker's weights under ``tracker.``, its backbone (the detector's,
    which the video model shares with the tracker) under ``detector.backbone.vision_backbone.``; the text
    encoder and the rest of the detector are left out."""
    import torch

    from stseg.models.sam3 import tracker_weights

    one = torch.zeros(1)
    release = {"tracker.transformer.x": one, "detector.backbone.vision_backbone.trunk.y": one,
               "detector.backbone.language_backbone.z": one, "detector.transformer.w": one}
    expected = {"transformer.x", "backbone.vision_backbone.trunk.y"}
    assert set(tracker_weights(release)) == expected
    assert set(tracker_weights({"model": release})) == expected


def test_bounded_memory_keeps_every_output_sam3s_memory_selection_can_read():
    """Over 300 frames of random scores (a fifth of them below the threshold), SAM 3's own ``frame_filter`` picks
    the same memory frames from the outputs bounded memory keeps as from all of them, on every frame, and at
    most ``max_obj_ptrs_in_encoder`` outputs are kept."""
    import torch
    from sam3.model.sam3_tracker_base import Sam3TrackerBase

    from stseg.models.sam3 import reachable_frames

    defaults = {name: p.default for name, p in inspect.signature(Sam3TrackerBase.__init__).parameters.items()}
    tracker = type("Tracker", (), {"use_memory_selection": True, "max_obj_ptrs_in_encoder": defaults["max_obj_ptrs_in_encoder"],
                                   "mf_threshold": defaults["mf_threshold"]})()
    rng = random.Random(0)
    frames = 300
    every, bounded = {}, {}
    for t in range(1, frames):
        for held in (every, bounded):
            assert (Sam3TrackerBase.frame_filter(tracker, {"non_cond_frame_outputs": held}, False, t, frames, 1)
                    == Sam3TrackerBase.frame_filter(tracker, {"non_cond_frame_outputs": every}, False, t, frames, 1))
        score = 0.0 if rng.random() < 0.2 else rng.uniform(0.02, 1.0)
        for held in (every, bounded):
            held[t] = {"eff_iou_score": torch.tensor(score)}
        keep = reachable_frames(tracker, bounded, t)
        for old in [s for s in bounded if s not in keep]:
            del bounded[old]
        assert len(bounded) <= tracker.max_obj_ptrs_in_encoder
    assert len(every) == frames - 1


def stseg_infer(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stseg.cli", "infer", "--model-type", "sam3", "--quiet", *args],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_sam3_without_cuda_is_one_clear_error(small_demo, tmp_path):
    """At ``device: auto`` on a machine without CUDA the job says SAM 3 is GPU-only and how to run it anyway."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = stseg_infer("--options", '{"random_init": true}', "--frames", str(small_demo / "JPEGImages" / "twins"),
                         "--annotation", str(small_demo / "Annotations" / "twins" / "00000.png"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "SAM 3 is GPU-only" in result.stderr and "options.device: cpu" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_refused_when_the_workflow_is_parsed(small_demo, tmp_path):
    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"], "s3": {"type": "sam3"}}}
    result = snakemake(tmp_path, config, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "models.s3: no sam3 checkpoint configured" in output
    assert "(docs/models.md, 'Where the weights come from')" in output


def test_a_checkpoint_of_another_model_is_named(tmp_path, small_demo):
    """A file that is not SAM 3's release checkpoint is refused, naming it and what is expected."""
    import torch

    wrong = tmp_path / "sam2.pt"
    torch.save({"model": {"image_encoder.trunk.w": torch.zeros(1)}}, wrong)
    result = stseg_infer("--options", json.dumps({"checkpoint": str(wrong), "device": "cpu"}),
                         "--frames", str(small_demo / "JPEGImages" / "twins"),
                         "--annotation", str(small_demo / "Annotations" / "twins" / "00000.png"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"{wrong}: not a SAM 3 checkpoint in its release layout" in result.stderr and "sam3.pt" in result.stderr


def three_frames(where: Path) -> Path:
    """The first 3 frames of a real two-object DAVIS video (854x480) and its first-frame annotation."""
    source = shared_dataset("davis-multiobj")
    data = where / "data"
    (data / "JPEGImages" / VIDEO).mkdir(parents=True)
    (data / "Annotations" / VIDEO).mkdir(parents=True)
    for t in range(FRAMES):
        shutil.copy(source / "JPEGImages" / VIDEO / f"{t:05d}.jpg", data / "JPEGImages" / VIDEO)
    shutil.copy(source / "Annotations" / VIDEO / "00000.png", data / "Annotations" / VIDEO)
    return data


@pytest.mark.slow
def test_sam3_through_every_stage_gives_the_masks_of_sam3s_own_tracking(tmp_path):
    """SAM 3's own tracking (tests/sam3_reference.py) writes the checkpoint and its masks; then a config with a
    ``sam3`` model (that checkpoint, the CPU) runs through every stage, and its masks equal SAM 3's on every
    pixel of both propagated frames, with its tracker scores.  The job read each frame into the same bytes as
    SAM 3's own loader (its backbone outputs were the reference's: ``hit`` on all 3 frames)."""
    data = three_frames(tmp_path)
    features, checkpoint, reference = tmp_path / "features", tmp_path / "sam3-random.pt", tmp_path / "reference"
    result = subprocess.run([sys.executable, str(TESTS / "sam3_reference.py"), "--features", str(features),
                             "--checkpoint", str(checkpoint), "--frames", str(data / "JPEGImages" / VIDEO),
                             "--annotation", str(data / "Annotations" / VIDEO / "00000.png"), "--out", str(reference)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    computed = (features / "features.log").read_text().split()
    assert computed[::2] == ["computed"] * FRAMES

    python = tmp_path / "python-sam3-features"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{TESTS / "sam3_features.py"}" "{features}" "$@"\n')
    python.chmod(0o755)
    config = {"dataset": {"root": str(data)}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"],
                         "s3": {"type": "sam3", "python": str(python), "gpus": 0,
                                "options": {"checkpoint": str(checkpoint), "device": "cpu"}}}}
    snakemake(tmp_path, config, "--cores", "2")
    log = (features / "features.log").read_text().split()
    assert log[2 * FRAMES::2] == ["hit"] * FRAMES and log[2 * FRAMES + 1::2] == computed[1::2]

    results = tmp_path / "results"
    masks = results / "masks" / "s3" / VIDEO
    for t in range(1, FRAMES):
        mine, theirs = read_label_map(masks / f"{t:05d}.png"), read_label_map(reference / f"{t:05d}.png", allow_greyscale=True)
        assert mine.shape == theirs.shape == (480, 854)
        assert int((mine != theirs).sum()) == 0, f"frame {t}: {(mine != theirs).sum()} pixels differ"
        assert set(np.unique(mine)) == {0, 1, 2}  # both objects there: not a comparison of empty masks
    mine_scores = [line.split(",") for line in (masks / "scores.csv").read_text().splitlines()[1:]]
    their_scores = [line.split(",") for line in (reference / "scores.csv").read_text().splitlines()[1:]]
    assert [row[:2] for row in mine_scores] == [row[:2] for row in their_scores] and len(mine_scores) == 2 * (FRAMES - 1)
    assert np.allclose([float(r[2]) for r in mine_scores], [float(r[2]) for r in their_scores], rtol=0, atol=1e-6)
    assert ",s3," in (results / "summary.csv").read_text() and (results / "submission.zip").is_file()
