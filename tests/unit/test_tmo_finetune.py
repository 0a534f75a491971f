"""TMO fine-tuning (stseg.tmo_finetune and the finetune_tmo / flow_images rules).

The configuration errors run everywhere; the training itself needs TMO's code
(``STSEG_TMO_REPO``: a checkout of suhwan-cho/TMO at the tested commit, with
its requirements) and skips with the reason otherwise.  Training runs TMO's own
``Trainer`` on random ``rn101`` weights, on a small generated clip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    MODELS,
    job_counts,
    snakemake,
)
from PIL import Image

from stseg.masks import read_label_map

TUNE = {"model": "tmo", "random_init": True, "epochs": 3, "clip_n": 4, "batch_size": 4, "resolution": 64, "workers": 0,
        "lr": 1e-5, "device": "cpu"}


def tmo_checkout() -> str:
    repo = os.environ.get("STSEG_TMO_REPO")
    if not repo:
        pytest.skip("no TMO checkout: set STSEG_TMO_REPO to a clone of https://github.com/suhwan-cho/TMO "
                    "(tested at 1c16c6019a06) with its requirements (transformers, pypng) to train TMO")
    return repo


def config_with(run: dict, data: Path, results: Path, model: dict | None = None) -> dict:
    tmo = model or {"type": "tmo", "finetuned": "tune", "gpus": 0, "options": {"device": "cpu"}}
    return {"dataset": {"root": str(data)}, "results": str(results),
            "models": {"flow": MODELS["flow"], "tmo": tmo}, "finetune": {"tune": run}}


def parse_error(tmp_path: Path, config: dict) -> str:
    result = snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_a_training_split_without_full_annotations_is_refused(small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("STSEG_TMO_REPO", str(tmp_path / "nowhere"))
    split = tmp_path / "train"
    shutil.copytree(small_demo, split)
    (split / "Annotations" / "twins" / "00004.png").unlink()
    output = parse_error(tmp_path, config_with({**TUNE, "train_root": str(split)}, small_demo, tmp_path / "results"))
    assert f"finetune.tune.train_root: {split}/Annotations/twins does not annotate every frame" in output
    assert "Use a split with full annotations (MOSE train)" in output


def test_a_flow_folder_missing_frames_is_refused(small_demo, tmp_path):
    flow = tmp_path / "flow"
    for video in ("crossing", "fast-ball", "twins"):
        (flow / video).mkdir(parents=True)
        for t in range(10 if video != "twins" else 7):
            (flow / video / f"{t:05d}.jpg").write_bytes(b"")
    output = parse_error(tmp_path, config_with({**TUNE, "train_root": str(small_demo), "flow": str(flow)}, small_demo,
                                               tmp_path / "results"))
    assert f"finetune.tune.flow: {flow}/twins/00007.jpg is missing (3 of 10 frames of 'twins' have no flow image)" in output


def test_a_missing_checkout_is_refused_before_any_job(small_demo, tmp_path, monkeypatch):
    monkeypatch.delenv("STSEG_TMO_REPO", raising=False)
    output = parse_error(tmp_path, config_with({**TUNE, "train_root": str(small_demo)}, small_demo, tmp_path / "results"))
    assert "finetune.tune: no upstream checkout of tmo configured (options.repo or $STSEG_TMO_REPO)" in output


def test_a_model_finetuned_on_another_models_run_is_refused(small_demo, tmp_path):
    config = config_with({"model": "sam2", "train_root": str(small_demo), "init_checkpoint": str(tmp_path / "x.pt")},
                         small_demo, tmp_path / "results", {"type": "flow", "finetuned": "tune"})
    assert "models.tmo.finetuned: run 'tune' fine-tunes sam2, not flow." in parse_error(tmp_path, config)


@pytest.mark.slow
def test_training_lowers_the_loss_and_the_checkpoint_loads_safely(small_demo, tmp_path, monkeypatch):
    import torch

    from stseg.models.upstream import load_state
    from stseg.tmo_finetune import TMOFinetuneSettings, finetune_tmo, write_flow_images

    repo = tmo_checkout()
    for video in ("twins", "crossing"):
        write_flow_images(small_demo / "JPEGImages" / video, tmp_path / "flow" / video)
    settings = TMOFinetuneSettings(
        train_root=str(small_demo), out_checkpoint=str(tmp_path / "tmo.pt"), workdir=str(tmp_path / "work"),
        flow_root=str(tmp_path / "flow"), repo=repo, random_init=True, epochs=4, clip_n=4, lr=1e-5, batch_size=4,
        resolution=64, workers=0, device="cpu", videos=["twins", "crossing"])
    monkeypatch.setenv("STSEG_CACHE", str(tmp_path / "cache"))
    losses = finetune_tmo(settings)
    assert len(losses) == 4 and losses[-1] < losses[0]  # upstream's lr, one batch per epoch
    rows = (tmp_path / "work" / "losses.csv").read_text().splitlines()
    assert rows[0] == "epoch,samples,loss" and len(rows) == 5
    state = load_state("tmo", tmp_path / "tmo.pt")  # weights_only=True
    assert all(isinstance(v, torch.Tensor) for v in state.values()) and not any(k.startswith("module.") for k in state)


@pytest.mark.slow
def test_a_finetuned_tmo_runs_through_every_stage(small_demo, tmp_path, monkeypatch):
    """flow_images (once per video, shared by the training and the model's inference: here the training split is
    the dataset), finetune_tmo, then inference with its checkpoint and every later stage; new weights rerun the
    model's jobs."""
    from stseg.workflow import flow_id

    repo = tmo_checkout()
    config = config_with({**TUNE, "train_root": str(small_demo), "repo": repo, "videos": ["twins", "crossing"]},
                         small_demo, tmp_path / "results", {"type": "tmo", "finetuned": "tune", "gpus": 0,
                                                            "options": {"repo": repo, "device": "cpu", "flow": "cached"}})
    plan = job_counts(snakemake(tmp_path, config, "--dry-run").stdout)
    assert plan["flow_images"] == 3 and plan["finetune_tmo"] == 1 and plan["infer_foreground"] == 3
    monkeypatch.setenv("STSEG_CACHE", str(tmp_path / "cache"))
    snakemake(tmp_path, config, "--cores", "2")
    results = tmp_path / "results"
    assert (results / "finetune" / "tune" / "losses.csv").read_text().startswith("epoch,samples,loss")
    assert len(list((results / "flow" / flow_id(small_demo) / "fast-ball").glob("*.jpg"))) == 10
    for video in ("crossing", "fast-ball", "twins"):
        assert set(np.unique(read_label_map(results / "foreground" / "tmo" / video / "00005.png"))) <= {0, 1}
        assert read_label_map(results / "masks" / "tmo" / video / "00000.png").any()
    assert ",tmo," in (results / "summary.csv").read_text()
    weights = results / "finetune" / "tune" / "checkpoint.pt"
    os.utime(weights)  # new weights: the model's jobs rerun, not the training
    plan = job_counts(snakemake(tmp_path, config, "--dry-run").stdout)
    assert plan["infer_foreground"] == 3 and "finetune_tmo" not in plan and "flow_images" not in plan
    assert Image.open(results / "report" / "overlays" / "twins.png").size[0] > 0
