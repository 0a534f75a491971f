"""stseg.models.edgetam: EdgeTAM (edgetam-dimos) in an environment of its own, masks equal to EdgeTAM's own
``tools/vos_inference.py``.

EdgeTAM's ``sam2`` package cannot share this environment with the real ``sam2``, so the tests run it from the
interpreter named by ``STSEG_EDGETAM_PYTHON`` (a venv with edgetam-dimos and timm: README, "EdgeTAM") and skip
without one. The upstream script comes from a checkout of facebookresearch/EdgeTAM (``STSEG_EDGETAM_REPO``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import HD_VIDEO, MODELS, REPO, shared_dataset, snakemake, tree_digest

from stseg.masks import read_label_map


def edgetam_python() -> str:
    python = os.environ.get("STSEG_EDGETAM_PYTHON")
    if not python:
        pytest.skip("no EdgeTAM environment: set STSEG_EDGETAM_PYTHON to the python of a venv with edgetam-dimos "
                    "and timm (docs/models.md: 'EdgeTAM')")
    return python


def run(python: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run([python, *args], capture_output=True, text=True, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised EdgeTAM saved as its release checkpoint is (``write_random_checkpoint``: objects
    present, so the masks are not empty)."""
    python = edgetam_python()
    path = tmp_path_factory.mktemp("edgetam") / "edgetam-random.pt"
    run(python, "-c", f"from stseg.models.edgetam import write_random_checkpoint; write_random_checkpoint({str(path)!r})")
    return python, path


#: EdgeTAM's vos_inference.py, with the one edit a CPU needs (the script builds on "cuda"), its encoder built
#: without downloading ImageNet weights (the checkpoint replaces them), then run as a script
REFERENCE = """
import runpy, sys, timm.models
create = timm.models.create_model
timm.models.create_model = lambda *a, **k: create(*a, **{**k, "pretrained": False})
script = sys.argv[1]
sys.argv = [script, *sys.argv[2:]]
runpy.run_path(script, run_name="__main__")
"""


def vos_inference(python: str, checkpoint: Path, data: Path, out: Path, work: Path) -> Path:
    checkout = os.environ.get("STSEG_EDGETAM_REPO")
    if not checkout:
        pytest.skip("no EdgeTAM checkout: set STSEG_EDGETAM_REPO to a clone of facebookresearch/EdgeTAM")
    text = (Path(checkout) / "tools" / "vos_inference.py").read_text()
    old = "        config_file=args.sam2_cfg,\n"
    assert text.count(old) == 1, "EdgeTAM's vos_inference.py changed: the CPU edit no longer applies"
    script = work / "vos_inference.py"
    script.write_text(text.replace(old, old + '        device="cpu",\n'))
    run(python, "-c", REFERENCE, str(script), "--sam2_checkpoint", str(checkpoint), "--base_video_dir",
        str(data / "JPEGImages"), "--input_mask_dir", str(data / "Annotations"), "--output_mask_dir", str(out),
        "--track_object_appearing_later_in_video")
    return out


def clip(source: Path, where: Path, frames: int) -> Path:
    data = where / "data"
    (data / "JPEGImages" / HD_VIDEO).mkdir(parents=True)
    (data / "Annotations" / HD_VIDEO).mkdir(parents=True)
    for t in range(frames):
        shutil.copy(source / "JPEGImages" / HD_VIDEO / f"{t:05d}.jpg", data / "JPEGImages" / HD_VIDEO)
    shutil.copy(source / "Annotations" / HD_VIDEO / "00000.png", data / "Annotations" / HD_VIDEO)
    return data


@pytest.mark.slow
@pytest.mark.parametrize("bounded", [False, True])
def test_defaults_give_the_masks_of_edgetams_vos_inference_script(checkpoint, hd_clip, tmp_path, bounded):
    """Every frame after the first of a real two-object video, one thread, against the script's per-object mode
    (its default mode fails on two objects: stseg.models.edgetam): at 1280x720 (8 frames), and with bounded
    memory on 20 frames at 854x480, longer than EdgeTAM's memory window (16 frames: its object pointers)."""
    python, path = checkpoint
    frames = 20 if bounded else 8
    data = clip(shared_dataset("davis-multiobj") if bounded else hd_clip, tmp_path, frames)
    theirs = vos_inference(python, path, data, tmp_path / "upstream", tmp_path) / HD_VIDEO
    ours = tmp_path / "stseg"
    options = {"checkpoint": str(path), "device": "cpu", "bounded_memory": bounded}
    run(python, "-m", "stseg.cli", "infer", "--model-type", "edgetam", "--quiet", "--options", json.dumps(options),
        "--frames", str(data / "JPEGImages" / HD_VIDEO), "--annotation", str(data / "Annotations" / HD_VIDEO / "00000.png"),
        "--out", str(ours))
    for t in range(1, frames):
        mine, reference = read_label_map(ours / f"{t:05d}.png"), read_label_map(theirs / f"{t:05d}.png", allow_greyscale=True)
        assert mine.shape == reference.shape
        assert int((mine != reference).sum()) == 0, f"frame {t}: {(mine != reference).sum()} pixels differ"
    assert set(np.unique(mine)) == {0, 1, 2}  # both objects there: the comparison is not between empty masks
    scores = (ours / "scores.csv").read_text().splitlines()
    assert scores[0] == "frame,object,score" and len(scores) == 1 + (frames - 1) * 2


def test_the_wrong_environment_is_one_clear_error(small_demo, tmp_path):
    """In this environment (the real sam2, or none) an edgetam job says where EdgeTAM runs."""
    import sys

    result = subprocess.run([sys.executable, "-m", "stseg.cli", "infer", "--model-type", "edgetam", "--quiet",
                             "--options", '{"random_init": true, "device": "cpu"}', "--frames",
                             str(small_demo / "JPEGImages" / "twins"), "--annotation",
                             str(small_demo / "Annotations" / "twins" / "00000.png"), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and "edgetam: this Python has no EdgeTAM" in result.stderr
    assert "models.<name>.python" in result.stderr and not (tmp_path / "out").exists()


def test_a_missing_checkpoint_is_refused_when_the_workflow_is_parsed(small_demo, tmp_path):
    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"], "edge": {"type": "edgetam"}}}
    result = snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "models.edge: no edgetam checkpoint configured" in output and "(docs/models.md, 'Where the weights come from')" in output


@pytest.mark.slow
def test_edgetam_from_its_own_environment_through_every_stage_batched(checkpoint, small_demo, tmp_path):
    """A config with an edgetam model (its python, a checkpoint the test made) runs through every stage, its two
    videos in one batch job: the same bytes as a job per video."""
    python, path = checkpoint
    data = tmp_path / "data"
    for kind in ("JPEGImages", "Annotations"):
        for video in ("twins", "crossing"):
            shutil.copytree(small_demo / kind / video, data / kind / video)
    options = {"checkpoint": str(path), "device": "cpu"}
    config = {"dataset": {"root": str(data)}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"], "edge": {"type": "edgetam", "python": python, "gpus": 0,
                                                           "videos_per_job": 2, "options": options}}}
    snakemake(tmp_path, config, "--cores", "2")
    results = tmp_path / "results"
    assert ",edge," in (results / "summary.csv").read_text() and (results / "submission.zip").is_file()
    run(python, "-m", "stseg.cli", "infer", "--model-type", "edgetam", "--quiet", "--options", json.dumps(options),
        "--frames", str(data / "JPEGImages" / "crossing"), "--annotation", str(data / "Annotations" / "crossing" / "00000.png"),
        "--out", str(tmp_path / "alone"))
    made = {k: v for k, v in tree_digest(results / "masks" / "edge" / "crossing").items() if k != ".snakemake_timestamp"}
    assert tree_digest(tmp_path / "alone") == made
    assert set(np.unique(read_label_map(results / "masks" / "edge" / "crossing" / "00005.png"))) <= {0, 1, 2, 3}
