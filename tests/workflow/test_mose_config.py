"""The shipped STSeg-on-MOSE config (configs/stseg-mose.yaml), end to end on a generated dataset in MOSE's layout.

The config is read as shipped; only what a CPU run in CI needs is changed: the ``/path/to/...`` placeholders become
the test's folders and checkpoints (random weights the test makes), SAM 2.1 runs the tiny model at 256 pixels with
a few fine-tuning steps, and every model runs on the CPU.  Models whose code is not here are left out, as the other
external tests skip: XMem, LiVOS and TMO need their checkouts (``STSEG_XMEM_REPO``, ``STSEG_LIVOS_REPO``,
``STSEG_TMO_REPO``); SAM 2 and Cutie come from PyPI and always run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO, job_counts, snakemake

from stseg.masks import read_label_map

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("sam2", reason="sam2 is not installed")
pytest.importorskip("training.trainer", reason="the sam2 package's training code is not importable")
from stseg.models.upstream import installed_package  # noqa: E402

CONFIG = REPO / "configs" / "stseg-mose.yaml"


def mose_layout(root: Path) -> tuple[Path, Path]:
    """``train`` (every frame annotated) and ``valid`` (the first frame's annotation only), MOSE's five-digit names."""
    from stseg.demo import write_demo

    train, valid = root / "train", root / "valid"
    write_demo(train, ["twins", "crossing"], width=224, height=128, max_frames=6)
    write_demo(valid, ["fast-ball", "twins"], width=224, height=128, max_frames=6)
    for png in (valid / "Annotations").glob("*/*.png"):
        if png.stem != "00000":
            png.unlink()
    return train, valid


def placeholders(config: dict) -> list[str]:
    found = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and value.startswith("/path/to/"):
            found.append(key)

    walk(config)
    return found


def test_the_shipped_config_runs_every_stage(tmp_path, monkeypatch):
    config = yaml.safe_load(CONFIG.read_text())
    assert set(config["models"]) == {"sam2", "tmo", "cutie", "xmem", "livos"}
    assert set(config["finetune"]) == {"sam2-mose", "tmo-mose"} and config["evaluation"]["variant"] == "mose"
    assert config["pgmr"]["models"] == ["sam2", "tmo", "cutie", "xmem", "livos"]

    train, valid = mose_layout(tmp_path / "MOSE")
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    cache = tmp_path / "cache"
    env = {**os.environ, "STSEG_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    from sam2_reference import make_checkpoint

    sam2_init = make_checkpoint(checkpoints / "sam2.1_hiera_tiny.pt")
    config["dataset"]["root"] = str(valid)
    config["results"] = str(tmp_path / "results")
    # a few steps the loss must go down in (a tiny model, 256 pixels, on one training video)
    config["finetune"]["sam2-mose"].update(train_root=str(train), init_checkpoint=str(sam2_init), size="tiny",
                                           resolution=256, num_frames=3, max_num_objects=2, epochs=6, workers=0,
                                           device="cpu", gpus=1, base_lr=3e-4, vision_lr=3e-4, videos=["twins"],
                                           deterministic=True)
    config["models"]["sam2"]["options"].update(size="tiny", image_size=256, device="cpu")
    here = {"sam2"}
    if installed_package("cutie") is not None:
        weights = checkpoints / "cutie-random.pth"
        subprocess.run([sys.executable, "-c", "from stseg.models.cutie import write_random_checkpoint; "
                        f"write_random_checkpoint(None, {str(weights)!r})"], check=True, env=env)
        config["models"]["cutie"]["options"] = {"checkpoint": str(weights), "device": "cpu", "probabilities": True}
        here.add("cutie")
    for model in ("xmem", "livos", "tmo"):
        repo = os.environ.get(f"STSEG_{model.upper()}_REPO")
        if repo is None:
            continue
        weights = checkpoints / f"{model}-random.pth"
        subprocess.run([sys.executable, "-c", f"from stseg.models.{model} import write_random_checkpoint; "
                        f"write_random_checkpoint({repo!r}, {str(weights)!r})"], check=True, env=env)
        options = config["models"][model]["options"]
        options.update(repo=repo, device="cpu")
        if model == "tmo":
            config["finetune"]["tmo-mose"].update(train_root=str(train), init_checkpoint=str(weights), repo=repo,
                                                  epochs=1, clip_n=2, batch_size=2, resolution=64, workers=0,
                                                  device="cpu")
        else:
            options["checkpoint"] = str(weights)
        here.add(model)
    for model in set(config["models"]) - here:
        del config["models"][model]
    if "tmo" not in here:
        del config["finetune"]["tmo-mose"]
    config["pgmr"]["models"] = [m for m in config["pgmr"]["models"] if m in here]
    for entry in config["models"].values():
        entry["gpus"] = 0  # the CPU here: the local scheduler would wait for a GPU otherwise
    assert placeholders(config) == [], "every /path/to/ placeholder is a path the user sets"

    plan = job_counts(snakemake(tmp_path, config, "--dry-run").stdout)
    assert plan["finetune"] == 1 and plan["select"] == 2
    # the guide's SLURM command, planned (the SLURM executor plugin is installed with the workflow extra)
    slurm = snakemake(tmp_path, config, "--profile", str(REPO / "profiles" / "slurm"), "--dry-run")
    assert job_counts(slurm.stdout)["finetune"] == 1
    monkeypatch.setenv("STSEG_CACHE", str(cache))  # the models' offline backbones (stseg.models.upstream)
    snakemake(tmp_path, config, "--cores", "2")
    results = tmp_path / "results"
    # the fine-tuning trained (the loss went down, the weights moved) and the sam2 jobs used its checkpoint
    import pandas as pd

    losses = pd.read_csv(results / "finetune" / "sam2-mose" / "losses.csv")["loss"].tolist()
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < 0.6 * sum(losses[:3]) / 3
    trained = torch.load(results / "finetune" / "sam2-mose" / "checkpoint.pt", weights_only=True)["model"]
    initial = torch.load(sam2_init, weights_only=True)["model"]
    assert trained.keys() == initial.keys() and any(not torch.equal(trained[k], initial[k]) for k in trained)
    # another fine-tuning reruns it and sam2's two videos (one job each on the CPU), nothing else of inference
    retrain = {**config, "finetune": {**config["finetune"], "sam2-mose": {**config["finetune"]["sam2-mose"], "epochs": 7}}}
    rerun = job_counts(snakemake(tmp_path, retrain, "--dry-run").stdout)
    assert rerun["finetune"] == 1 and rerun.get("infer_batch", 0) == 0 and rerun["infer"] == 2
    for model in here:
        for video in ("fast-ball", "twins"):
            assert len(list((results / "masks" / model / video).glob("*.png"))) == 6, (model, video)
    assert (results / "masks" / "sam2" / "twins" / "probs" / "00003.npz").is_file()  # probabilities: true
    outcome = (results / "outcome" / "twins.csv").read_text()
    assert "fuse" in outcome
    with zipfile.ZipFile(results / "submission.zip") as archive:
        names = sorted(archive.namelist())
    assert names == sorted(f"{v}/{t:05d}.png" for v in ("fast-ball", "twins") for t in range(6))
    final = read_label_map(results / "final" / "twins" / "00003.png")
    assert final.shape == (128, 224) and set(np.unique(final)) <= {0, 1, 2}
