"""Foreground-only models (TMO): the split into objects, and the whole path through the workflow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import (
    MODELS,
    job_counts,
    snakemake,
)

from stseg.foreground import split_foreground, split_frame
from stseg.masks import read_label_map, write_label_map


def test_one_object_takes_the_whole_foreground():
    fg = np.array([[True, False, True]])
    assert split_frame(fg, [], [3], None, 0.75).tolist() == [[3, 0, 3]]


def test_several_objects_follow_the_models_votes():
    fg = np.ones((1, 4), bool)
    a = np.array([[1, 1, 2, 0]], np.uint8)
    b = np.array([[1, 2, 2, 0]], np.uint8)
    # pixel 1: one vote each -> tie -> lower id; pixel 3: no vote, no box -> background
    assert split_frame(fg, [a, b], [1, 2], None, 0.75).tolist() == [[1, 1, 2, 0]]
    assert split_frame(~fg, [a, b], [1, 2], None, 0.75).tolist() == [[0, 0, 0, 0]]  # never outside the foreground


def test_fused_boxes_break_ties_and_cover_unvoted_foreground():
    fg = np.ones((1, 6), bool)
    a = np.array([[1, 1, 2, 0, 0, 0]], np.uint8)
    b = np.array([[1, 2, 2, 0, 0, 0]], np.uint8)
    # object 2's average box covers x 1..3, object 1's covers x 0..0; nobody covers x 5
    boxes = {1: ((0, 0, 1, 1), (0, 0, 1, 1)), 2: ((1, 0, 4, 1), (1, 0, 5, 1))}
    out = split_frame(fg, [a, b], [1, 2], boxes, ring_weight=0.5)
    assert out.tolist() == [[1, 2, 2, 2, 2, 0]]
    # a box is worth less than one model's vote: the votes still decide where models agree
    assert split_frame(fg, [a, a], [1, 2], {2: ((0, 0, 6, 1), (0, 0, 6, 1))}, 0.75).tolist() == [[1, 1, 2, 2, 2, 2]]


def test_split_a_video(tmp_path):
    annotation = np.zeros((4, 6), np.uint8)
    annotation[:, :2], annotation[:, 4:] = 1, 2
    fg = np.zeros((4, 6), np.uint8)
    fg[:, 1:5] = 1
    model = np.zeros((4, 6), np.uint8)
    model[:, :3], model[:, 3:] = 1, 2
    for t in range(2):
        write_label_map(tmp_path / "fg" / f"{t:05d}.png", annotation if t == 0 else fg)
        write_label_map(tmp_path / "m" / f"{t:05d}.png", annotation if t == 0 else model)
    assert split_foreground(tmp_path / "fg", {"m": tmp_path / "m"}, tmp_path / "m" / "00000.png", None,
                            tmp_path / "out", 0.75) == 2
    assert (read_label_map(tmp_path / "out" / "00000.png") == annotation).all()
    assert read_label_map(tmp_path / "out" / "00001.png")[0].tolist() == [0, 1, 1, 2, 2, 0]


@pytest.mark.slow
def test_foreground_only_model_through_the_workflow(small_demo, tmp_path):
    """copy-foreground takes TMO's path: foreground/ -> split -> masks/, scored and selectable like any model."""
    config = {
        "dataset": {"root": str(small_demo)},
        "results": str(tmp_path / "results"),
        "models": {"flow": MODELS["flow"], "appearance": MODELS["appearance"], "fg": {"type": "copy-foreground"}},
        "pgmr": {"models": ["flow", "appearance", "fg"]},
    }
    result = snakemake(tmp_path, config, "--cores", "2")
    counts = job_counts(result.stdout + result.stderr)
    assert counts["infer_foreground"] == 3 and counts["split_foreground"] == 3 and counts["infer"] == 6
    results = tmp_path / "results"
    for video in ("crossing", "fast-ball", "twins"):
        raw = read_label_map(results / "foreground" / "fg" / video / "00005.png")
        first = read_label_map(small_demo / "Annotations" / video / "00000.png")
        assert set(np.unique(raw)) <= {0, 1} and (raw > 0).sum() == (first > 0).sum()
        split = read_label_map(results / "masks" / "fg" / video / "00005.png")
        assert ((split > 0) <= (raw > 0)).all()  # never outside the foreground
        assert set(np.unique(split)) - {0} <= set(np.unique(first)) - {0}
        log = (results / "logs" / "pseudolabel" / f"{video}.log").read_text()
        assert (results / "weights" / f"{video}.csv").read_text().count("fg,0,") == 1, log
    scores = pd.read_csv(results / "summary.csv")
    assert set(scores.loc[scores["model"] == "fg", "video"]) == {"crossing", "fast-ball", "twins"}
    # the fused boxes come from the object-level models only
    boxes = pd.read_csv(results / "boxes" / "twins.csv")
    assert set(boxes["model"]) == {"flow", "appearance"}
