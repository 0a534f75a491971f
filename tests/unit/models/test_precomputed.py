"""stseg.models.precomputed: masks made elsewhere, read, validated and run through every stage."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import (
    MODELS,
    snakemake,
)

from stseg.inference import run_model
from stseg.masks import read_label_map, write_label_map
from stseg.models.precomputed import PrecomputedError


# --- precomputed: masks brought from elsewhere --------------------------------------------------------
def test_precomputed_masks_are_read_and_validated(small_demo, tmp_path):
    video = small_demo / "JPEGImages" / "twins"
    annotation = small_demo / "Annotations" / "twins" / "00000.png"
    brought = tmp_path / "brought"
    shutil.copytree(small_demo / "Annotations" / "twins", brought / "twins")
    run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "ok", progress=False)
    for t in range(1, 10):
        assert np.array_equal(read_label_map(tmp_path / "ok" / f"{t:05d}.png"),
                              read_label_map(brought / "twins" / f"{t:05d}.png"))
    (brought / "twins" / "00004.png").unlink()
    with pytest.raises(PrecomputedError, match=r"twins: precomputed masks missing for 1 frame\(s\) \(00004.png\)"):
        run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "out", progress=False)
    shutil.copy(brought / "twins" / "00003.png", brought / "twins" / "00004.png")
    labels = read_label_map(brought / "twins" / "00006.png")
    labels[:3, :3] = 7
    write_label_map(brought / "twins" / "00006.png", labels)
    with pytest.raises(PrecomputedError, match=r"00006.png: object id\(s\) \[7\] are not in the video's annotation"):
        run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "out", progress=False)
    write_label_map(brought / "twins" / "00006.png", np.zeros((90, 160), np.uint8))
    with pytest.raises(PrecomputedError, match=r"00006.png: mask is 160x90 but the video's frames are 320x180"):
        run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "out", progress=False)
    with pytest.raises(PrecomputedError, match=r"no precomputed masks for video 'crossing'"):
        run_model("precomputed", {"path": str(brought)}, small_demo / "JPEGImages" / "crossing",
                  small_demo / "Annotations" / "crossing" / "00000.png", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_probabilities_brought_beside_the_masks_are_kept(small_demo, tmp_path):
    from stseg.probabilities import read_probabilities, write_probabilities

    video = small_demo / "JPEGImages" / "twins"
    annotation = small_demo / "Annotations" / "twins" / "00000.png"
    brought = tmp_path / "brought"
    shutil.copytree(small_demo / "Annotations" / "twins", brought / "twins")
    (brought / "twins" / "probs").mkdir()
    rng = np.random.default_rng(0)
    given = {1: rng.random((180, 320)).astype(np.float32), 2: rng.random((180, 320)).astype(np.float32)}
    write_probabilities(brought / "twins" / "probs" / "00003.npz", given)
    run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "out", progress=False)
    kept = sorted(p.name for p in (tmp_path / "out" / "probs").iterdir())
    assert kept == ["00003.npz"]  # only the frames that had them
    assert (tmp_path / "out" / "probs" / "00003.npz").read_bytes() == (brought / "twins" / "probs" / "00003.npz").read_bytes()
    write_probabilities(brought / "twins" / "probs" / "00004.npz", {9: given[1]})
    with pytest.raises(PrecomputedError, match=r"00004.npz: probabilities of object id\(s\) \[9\]"):
        run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "bad", progress=False)
    assert sorted(read_probabilities(tmp_path / "out" / "probs" / "00003.npz")) == [1, 2]


@pytest.mark.slow
def test_a_precomputed_perfect_model_runs_through_every_stage_and_is_chosen(small_demo, tmp_path):

    brought = tmp_path / "perfect"
    shutil.copytree(small_demo / "Annotations", brought)
    (tmp_path / "work").mkdir()
    config = {"dataset": {"root": str(small_demo)}, "results": "results",
              "models": {"flow": MODELS["flow"], "appearance": MODELS["appearance"],
                         "perfect": {"type": "precomputed", "options": {"path": str(brought)}}}}
    snakemake(tmp_path / "work", config, "--cores", "2")
    results = tmp_path / "work" / "results"
    summary = pd.read_csv(results / "summary.csv")
    assert summary[summary.chosen_video == 1]["model"].tolist() == ["perfect"] * 3
    overall = pd.read_csv(results / "summary_overall.csv").set_index("method")
    assert overall.loc["selection:video", "JF"] == overall.loc["perfect", "JF"] == 1.0
    assert (results / "prior.csv").read_text().splitlines()[1].startswith("perfect,")


def test_a_score_that_is_not_a_number_names_the_file_and_line(small_demo, tmp_path):
    video = small_demo / "JPEGImages" / "twins"
    annotation = small_demo / "Annotations" / "twins" / "00000.png"
    brought = tmp_path / "brought"
    shutil.copytree(small_demo / "Annotations" / "twins", brought / "twins")
    (brought / "twins" / "scores.csv").write_text("frame,object,score\n00003,1,0.9\n00004,1,high\n")
    with pytest.raises(PrecomputedError, match=r"scores.csv, line 3: .*'high'.* is not a row of frame, object"):
        run_model("precomputed", {"path": str(brought)}, video, annotation, tmp_path / "out", progress=False)
