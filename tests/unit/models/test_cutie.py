"""Cutie installed from PyPI (rf-cutie): no checkout, masks equal to Cutie's own ``eval_vos.py``.

These run wherever ``pip install "stseg[cutie]"`` was done (CI does it) and skip
otherwise.  The reference is the package's own evaluation script, run unmodified
on the CPU by ``tests/run_on_cpu.py`` at its MOSE settings
(``dataset=mose-val``: shorter side 480, ``mem_every`` 5, no long-term memory),
on a real DAVIS video brought to 1280x720 so that the 480-pixel resizing of the
script's data loader is exercised.  One thread everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    HD_FRAMES,
    HD_VIDEO,
    MODELS,
    REPO,
    snakemake,
    tree_digest,
)
from PIL import Image

from stseg.masks import read_label_map, write_label_map

pytest.importorskip("torch", reason="torch is not installed")
from stseg.models.upstream import installed_package  # noqa: E402

pytestmark = pytest.mark.skipif(installed_package("cutie") is None,
                                reason='Cutie is not installed from PyPI (pip install "stseg[cutie]")')


ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _no_cutie_checkout(monkeypatch):
    """Every test here is of the package from PyPI: a caller's $STSEG_CUTIE_REPO would make the jobs use a checkout."""
    monkeypatch.delenv("STSEG_CUTIE_REPO", raising=False)


VIDEO, FRAMES = HD_VIDEO, HD_FRAMES


def env(cache: Path) -> dict[str, str]:
    """The jobs' environment, pinned: one thread, the test's cache, and no $STSEG_CUTIE_REPO of the caller's (these
    tests are of the package installed from PyPI, which is also the reference's)."""
    pinned = {k: v for k, v in os.environ.items() if k != "STSEG_CUTIE_REPO"}
    return {**pinned, **ONE_THREAD, "STSEG_CACHE": str(cache), "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def cutie_setup(hd_clip, tmp_path_factory):
    """A random-weight Cutie checkpoint, and the first frames of a real two-object video at 1280x720."""
    root = tmp_path_factory.mktemp("cutie")
    cache = root / "cache"
    checkpoint = root / "cutie-random.pth"
    subprocess.run([sys.executable, "-c", "from stseg.models.cutie import write_random_checkpoint; "
                    f"write_random_checkpoint(None, {str(checkpoint)!r})"], check=True, env=env(cache))
    return hd_clip, checkpoint, cache


def eval_vos(data: Path, checkpoint: Path, cache: Path, out: Path) -> Path:
    """Cutie's own eval_vos.py at its MOSE settings; its output folder of PNGs for the video."""
    subprocess.run([sys.executable, str(REPO / "tests" / "run_on_cpu.py"), "--module", "cutie.eval_vos", "dataset=mose-val",
                    f"image_directory={data / 'JPEGImages'}", f"mask_directory={data / 'Annotations'}",
                    f"weights={checkpoint}", f"output_dir={out}", f"hydra.run.dir={out / 'hydra'}"],
                   check=True, cwd=out.parent, env=env(cache), capture_output=True)
    return out / "Annotations" / VIDEO


def stseg_cutie(data: Path, checkpoint: Path, cache: Path, out: Path, annotations=("00000",)) -> Path:
    """``stseg infer`` with the cutie model at its defaults (no repo: the PyPI package), only the device set."""
    options = {"checkpoint": str(checkpoint), "device": "cpu"}
    subprocess.run([sys.executable, "-m", "stseg.cli", "infer", "--model-type", "cutie", "--quiet",
                    "--options", json.dumps(options), "--frames", str(data / "JPEGImages" / VIDEO), "--annotation",
                    *(str(data / "Annotations" / VIDEO / f"{a}.png") for a in annotations), "--out", str(out)],
                   check=True, env=env(cache), capture_output=True)
    return out


@pytest.mark.slow
def test_defaults_give_the_masks_of_cuties_eval_vos_script(cutie_setup, tmp_path):
    data, checkpoint, cache = cutie_setup
    (tmp_path / "upstream").mkdir()
    theirs = eval_vos(data, checkpoint, cache, tmp_path / "upstream" / "out")
    ours = stseg_cutie(data, checkpoint, cache, tmp_path / "stseg")
    for t in range(1, FRAMES):
        a, b = read_label_map(ours / f"{t:05d}.png"), np.array(Image.open(theirs / f"{t:05d}.png"))
        assert a.shape == b.shape == (720, 1280)
        assert int((a != b).sum()) == 0, f"frame {t}: {(a != b).sum()} pixels differ from eval_vos.py"
    assert set(np.unique(a)) <= {0, 1, 2} and len(np.unique(a)) > 1


def test_the_installed_package_serves_as_the_checkout(small_demo, tmp_path):
    """No repo, no $STSEG_CUTIE_REPO: the workflow plans a cutie model (only the checkpoint is asked for)."""

    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"], "cutie": {"type": "cutie"}}}
    result = snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0 and "models.cutie: no cutie checkpoint configured" in result.stdout + result.stderr
    config["models"]["cutie"]["options"] = {"random_init": True, "device": "cpu"}
    result = snakemake(tmp_path, config, "--dry-run")
    assert "infer" in result.stdout


@pytest.mark.slow
def test_cutie_from_pypi_through_every_stage_with_an_object_added_later(small_demo, cutie_setup, tmp_path, monkeypatch):
    """A config whose cutie model has no repo runs through every stage, both videos in one batch job (one network
    for both: the same bytes as a job per video); on a sparse video Cutie adds the object at its frame (its own
    mid-video mask input)."""
    import shutil


    _, checkpoint, cache = cutie_setup
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    source, target = data / "Annotations" / "crossing", data / "Annotations" / "sparse"
    shutil.copytree(data / "JPEGImages" / "crossing", data / "JPEGImages" / "sparse")
    target.mkdir()
    first, later = read_label_map(source / "00000.png"), read_label_map(source / "00004.png")
    write_label_map(target / "00000.png", np.where(first == 3, 0, first).astype(np.uint8))
    write_label_map(target / "00004.png", np.where(later == 3, 3, 0).astype(np.uint8))
    config = {"dataset": {"root": str(data), "videos": ["twins", "sparse"]}, "results": str(tmp_path / "results"),
              "models": {"flow": MODELS["flow"],
                         "cutie": {"type": "cutie", "gpus": 0, "videos_per_job": 2,
                                   "options": {"checkpoint": str(checkpoint), "device": "cpu"}}}}
    monkeypatch.setenv("STSEG_CACHE", str(cache))
    snakemake(tmp_path, config, "--cores", "2")
    results = tmp_path / "results"
    maps = [read_label_map(results / "masks" / "cutie" / "sparse" / f"{t:05d}.png") for t in range(10)]
    assert all(3 not in m for m in maps[:4]) and all(3 in m for m in maps[4:])
    assert ",cutie," in (results / "summary.csv").read_text() and (results / "submission.zip").is_file()
    assert "2 of 2 video(s) computed" in (results / "logs" / "infer_batch" / "cutie" / "00000.log").read_text()
    options = json.dumps({"checkpoint": str(checkpoint), "device": "cpu"})
    for video in ("twins", "sparse"):  # the second video of the batch, and the first, as a job of their own
        annotations = sorted(str(p) for p in (data / "Annotations" / video).glob("*.png"))
        subprocess.run([sys.executable, "-m", "stseg.cli", "infer", "--model-type", "cutie", "--quiet", "--options", options,
                        "--frames", str(data / "JPEGImages" / video), "--annotation", *annotations, "--out",
                        str(tmp_path / "alone" / video)], check=True, capture_output=True,
                       env={**env(cache), "OMP_NUM_THREADS": "1"})  # as Snakemake runs a 1-thread job
        made = {k: v for k, v in tree_digest(results / "masks" / "cutie" / video).items() if k != ".snakemake_timestamp"}
        assert tree_digest(tmp_path / "alone" / video) == made, video


CORE_REFERENCE = """
import sys
import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import to_tensor
from stseg.masks import read_label_map
from stseg.models.cutie import build_network
from stseg.models.upstream import import_upstream

checkpoint, video, annotation, out = sys.argv[1:]
with torch.inference_mode():
    network, cfg = build_network(None, checkpoint, device="cpu", overrides={
        "mem_every": 5, "max_mem_frames": 5, "use_long_term": False, "max_internal_size": -1})
    core = import_upstream("cutie", "cutie.inference.inference_core").InferenceCore(network, cfg=cfg)
    labels = read_label_map(annotation)
    frames = sorted(__import__("pathlib").Path(video).glob("*.jpg"))
    image = lambda f: to_tensor(Image.open(f).convert("RGB"))  # Cutie's VideoReader: ToTensor of the RGB frame
    core.step(image(frames[0]), torch.from_numpy(labels.astype(np.int64)), objects=[1, 2])
    kept = {}
    for t, frame in enumerate(frames[1:], start=1):
        prob = core.step(image(frame))
        for channel in range(1, prob.shape[0]):
            kept[f"{t}_{core.object_manager.tmp_id_to_obj[channel].id}"] = prob[channel].numpy()
np.savez(out, **kept)
"""


def test_kept_probabilities_are_inference_cores_own(small_demo, cutie_setup, tmp_path):
    """``probabilities: true``: the npz beside each mask holds round(255 P) of the probabilities Cutie's own
    ``InferenceCore.step`` returns, frame by frame (a 320x180 video: no resizing, as eval_vos.py's loader); the
    reference runs in its own process (Cutie resets Hydra's global state, which SAM2 uses)."""
    from stseg.probabilities import quantize, read_probabilities

    _, checkpoint, cache = cutie_setup
    video = small_demo / "JPEGImages" / "twins"
    annotation = small_demo / "Annotations" / "twins" / "00000.png"
    out = tmp_path / "masks"
    options = {"checkpoint": str(checkpoint), "device": "cpu", "probabilities": True}
    subprocess.run([sys.executable, "-m", "stseg.cli", "infer", "--model-type", "cutie", "--quiet", "--options",
                    json.dumps(options), "--frames", str(video), "--annotation", str(annotation), "--out", str(out)],
                   check=True, env=env(cache), capture_output=True)
    reference = tmp_path / "core.npz"
    subprocess.run([sys.executable, "-c", CORE_REFERENCE, str(checkpoint), str(video), str(annotation), str(reference)],
                   check=True, env=env(cache), capture_output=True)
    labels = read_label_map(annotation)
    with np.load(reference) as theirs:
        assert len(theirs.files) == 2 * 9
        for key in theirs.files:
            t, obj = (int(x) for x in key.split("_"))
            kept = read_probabilities(out / "probs" / f"{t:05d}.npz", labels.shape)
            assert np.array_equal(quantize(kept[obj]), quantize(theirs[key])), (t, obj)
