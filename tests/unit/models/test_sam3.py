"""stseg.models.sam3: SAM 3's tracker with mask prompts, in its own environment, its masks equal to SAM 3's own
tracking.

SAM 3 pins ``numpy<2.4``, so it runs from a venv of its own: ``$STSEG_SAM3_PYTHON``, else ``.venv-sam3`` in the
checkout (README; ``.ci/run`` makes it, so these tests run in CI); without one they skip.  The equality test runs
SAM 3 itself from the ``sam3`` package (tests/sam3_reference.py: its video model at the builder's defaults, random
weights, the notebook's tracking loop, its video inference's output step) and the ``sam3`` job through the whole
workflow, on a real two-object DAVIS video of 3 frames, on the CPU (``stseg.models.sam3.cuda_on_cpu``).  SAM 3's
backbone takes about a minute per 1008-pixel frame on two cores, so the runs share each distinct frame's
backbone output (tests/sam3_features.py); everything after it runs in every run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import MODELS, REPO, shared_dataset, snakemake

from stseg.masks import read_label_map

VIDEO, FRAMES = "horsejump-high", 3
TESTS = REPO / "tests"


def sam3_python() -> str:
    python = os.environ.get("STSEG_SAM3_PYTHON") or str(REPO / ".venv-sam3" / "bin" / "python")
    if not os.access(python, os.X_OK):
        pytest.skip("no SAM 3 environment: create .venv-sam3 as the README shows (or set STSEG_SAM3_PYTHON to the "
                    "python of a venv with stseg[sam3])")
    return python


def run(python: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([python, *args], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert not check or result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def test_release_checkpoint_keys_map_onto_the_tracker_with_its_backbone():
    """sam3.pt holds the video model: the tracker's weights under ``tracker.``, its backbone (the detector's,
    which the video model shares with the tracker) under ``detector.backbone.vision_backbone.``; the text
    encoder and the rest of the detector are left out."""
    torch = pytest.importorskip("torch")

    from stseg.models.sam3 import tracker_weights

    one = torch.zeros(1)
    release = {"tracker.transformer.x": one, "detector.backbone.vision_backbone.trunk.y": one,
               "detector.backbone.language_backbone.z": one, "detector.transformer.w": one}
    expected = {"transformer.x", "backbone.vision_backbone.trunk.y"}
    assert set(tracker_weights(release)) == expected
    assert set(tracker_weights({"model": release})) == expected


#: run by SAM 3's interpreter: SAM 3's own frame_filter over what bounded memory keeps and over everything
FRAME_FILTER = """
import inspect, random, torch
from sam3.model.sam3_tracker_base import Sam3TrackerBase
from stseg.models.sam3 import reachable_frames
defaults = {n: p.default for n, p in inspect.signature(Sam3TrackerBase.__init__).parameters.items()}
tracker = type("Tracker", (), {"use_memory_selection": True, "mf_threshold": defaults["mf_threshold"],
                               "max_obj_ptrs_in_encoder": defaults["max_obj_ptrs_in_encoder"]})()
rng, frames, every, bounded, same, most = random.Random(0), 300, {}, {}, 0, 0
for t in range(1, frames):
    picks = [Sam3TrackerBase.frame_filter(tracker, {"non_cond_frame_outputs": held}, False, t, frames, 1)
             for held in (every, bounded)]
    same += picks[0] == picks[1]
    score = 0.0 if rng.random() < 0.2 else rng.uniform(0.02, 1.0)
    for held in (every, bounded):
        held[t] = {"eff_iou_score": torch.tensor(score)}
    keep = reachable_frames(tracker, bounded, t)
    for old in [s for s in bounded if s not in keep]:
        del bounded[old]
    most = max(most, len(bounded))
print(same, most, len(every), tracker.max_obj_ptrs_in_encoder)
"""


def test_bounded_memory_keeps_every_output_sam3s_memory_selection_can_read():
    """Over 300 frames of random scores (a fifth of them below the threshold), SAM 3's own ``frame_filter`` picks
    the same memory frames from the outputs bounded memory keeps as from all of them, on every frame, and at
    most ``max_obj_ptrs_in_encoder`` outputs are kept."""
    same, most, every, limit = map(int, run(sam3_python(), "-c", FRAME_FILTER).stdout.split())
    assert same == 299 and every == 299 and most <= limit == 16


def stseg_infer(*args: str, python: str | None = None) -> subprocess.CompletedProcess:
    return run(python or sam3_python(), "-m", "stseg.cli", "infer", "--model-type", "sam3", "--quiet", *args, check=False)


def test_the_wrong_environment_is_one_clear_error(small_demo, tmp_path):
    """In stseg's own environment (no sam3) a sam3 job says where SAM 3 runs."""
    if importlib.util.find_spec("sam3") is not None:
        pytest.skip("this Python has SAM 3")
    result = stseg_infer("--options", '{"random_init": true, "device": "cpu"}', "--frames", str(small_demo / "JPEGImages" / "twins"),
                         "--annotation", str(small_demo / "Annotations" / "twins" / "00000.png"), "--out", str(tmp_path / "out"),
                         python=sys.executable)
    assert result.returncode == 2 and "sam3: this Python has no SAM 3" in result.stderr
    assert "models.<name>.python" in result.stderr and not (tmp_path / "out").exists()


def test_sam3_without_cuda_is_one_clear_error(small_demo, tmp_path):
    """At ``device: auto`` on a machine without CUDA the job says SAM 3 is GPU-only and how to run it anyway."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    sam3_python()
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
    assert f"{wrong}: not a SAM 3 checkpoint in its release layout (none of the tracker's weights)" in result.stderr
    assert "sam3.pt" in result.stderr


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


@pytest.fixture(scope="module")
def sam3_reference(tmp_path_factory):
    """SAM 3's own tracking of the 3-frame video (tests/sam3_reference.py): the data, the backbone outputs it
    computed, the checkpoint it saved and its masks; removed after the module (the checkpoint is 1.9 GB)."""
    where = tmp_path_factory.mktemp("sam3")
    data = three_frames(where)
    features, checkpoint, reference = where / "features", where / "sam3-random.pt", where / "reference"
    run(sam3_python(), str(TESTS / "sam3_reference.py"), "--features", str(features), "--checkpoint", str(checkpoint),
        "--frames", str(data / "JPEGImages" / VIDEO), "--annotation", str(data / "Annotations" / VIDEO / "00000.png"),
        "--out", str(reference))
    assert (features / "features.log").read_text().split()[::2] == ["computed"] * FRAMES
    python = where / "python-sam3-features"  # the sam3 job's interpreter: SAM 3's venv, with those backbone outputs
    python.write_text(f'#!/bin/sh\nexec "{sam3_python()}" "{TESTS / "sam3_features.py"}" "{features}" "$@"\n')
    python.chmod(0o755)
    yield data, features, checkpoint, reference, python
    shutil.rmtree(where, ignore_errors=True)


def new_calls(features: Path, before: int) -> list[str]:
    """How the image encoder's calls after the first ``before`` were answered (``features.log``)."""
    return (features / "features.log").read_text().split()[2 * before::2]


@pytest.mark.slow
def test_sam3_through_every_stage_gives_the_masks_of_sam3s_own_tracking(sam3_reference, tmp_path):
    """A config with a ``sam3`` model (the checkpoint SAM 3's own run saved, the CPU) runs through every stage,
    and its masks equal SAM 3's on every pixel of both propagated frames, with its tracker scores.  The job read
    each frame into the same bytes as SAM 3's own loader (the image encoder's outputs were the reference's:
    ``hit`` on all 3 frames)."""
    data, features, checkpoint, reference, python = sam3_reference
    config = {"dataset": {"root": str(data)}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"],
                         "s3": {"type": "sam3", "python": str(python), "gpus": 0, "mem_mb": 8000,
                                "options": {"checkpoint": str(checkpoint), "device": "cpu"}}}}
    calls = len((features / "features.log").read_text().split()) // 2
    snakemake(tmp_path, config, "--cores", "2")
    assert new_calls(features, calls) == ["hit"] * FRAMES

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
    assert [float(r[2]) for r in mine_scores] == [float(r[2]) for r in their_scores]
    assert ",s3," in (results / "summary.csv").read_text() and (results / "submission.zip").is_file()


@pytest.mark.slow
def test_an_object_first_annotated_later_joins_on_its_frame(sam3_reference, tmp_path):
    """Object 2 given on frame 2 only (its real first-frame mask): it is absent on frame 1, where object 1 is
    tracked alone (its pixels: SAM 3's object 1 there, and at most the pixels SAM 3 gave to object 2 besides);
    on frame 2 it is its given mask as SAM 3 outputs an annotated frame (the mask at the tracker's 288-pixel
    mask size, brought back to the frame's: the same but for its edge), not lost to object 1 (an annotated
    frame's score is SAM 3's 10 logits, above object 1's)."""
    from stseg.masks import read_palette, write_label_map

    data, features, checkpoint, reference, python = sam3_reference
    first = data / "Annotations" / VIDEO / "00000.png"
    labels = read_label_map(first)
    write_label_map(tmp_path / "00000.png", np.where(labels == 2, 0, labels).astype(np.uint8), read_palette(first))
    write_label_map(tmp_path / "00002.png", np.where(labels == 2, 2, 0).astype(np.uint8), read_palette(first))
    calls = len((features / "features.log").read_text().split()) // 2
    out = tmp_path / "out"
    result = stseg_infer("--options", json.dumps({"checkpoint": str(checkpoint), "device": "cpu"}), "--frames",
                         str(data / "JPEGImages" / VIDEO), "--annotation", str(tmp_path / "00000.png"),
                         str(tmp_path / "00002.png"), "--out", str(out), python=str(python))
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(new_calls(features, calls)) == {"hit"}
    one, two = read_label_map(out / "00001.png"), read_label_map(out / "00002.png")
    theirs = read_label_map(reference / "00001.png", allow_greyscale=True)
    assert set(np.unique(one)) == {0, 1}
    assert np.array_equal(one == 1, (one == 1) & (theirs > 0)) and ((theirs == 1) & (one != 1)).sum() <= 0.001 * one.size
    given, found = labels == 2, two == 2
    assert (given & found).sum() / (given | found).sum() > 0.9 and (two == 1).any()
    rows = [line.split(",")[:2] for line in (out / "scores.csv").read_text().splitlines()[1:]]
    assert rows == [["00001", "1"], ["00002", "1"], ["00002", "2"]]


def test_stseg_models_says_where_sam3_is_ready():
    """``stseg models``: in stseg's own environment SAM 3 needs its venv; in its venv it is ready."""
    lines = {python: next(line for line in run(python, "-m", "stseg.cli", "models").stdout.splitlines() if line.startswith("sam3 "))
             for python in (sys.executable, sam3_python())}
    assert "ready (sam3 installed)" in lines[sam3_python()]
    if importlib.util.find_spec("sam3") is None:
        assert "needs its own venv: models.<name>.python" in lines[sys.executable]
