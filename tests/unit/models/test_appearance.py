"""stseg.models.appearance: the per-object colour tracker follows a coloured object and finds it again."""

from __future__ import annotations

import numpy as np

from stseg.models import build_model

H, W = 90, 160


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def frame_and_truth(x: int | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(x or 0)
    frame = np.clip(rng.normal(110, 8, (H, W, 3)), 0, 255).astype(np.uint8)
    truth = np.zeros((H, W), np.uint8)
    if x is not None:
        frame[30:54, x : x + 24] = (30, 60, 220)  # a red square (BGR) over a grey background
        truth[30:54, x : x + 24] = 1
    return frame, truth


def test_follows_a_moving_object_and_finds_it_after_it_left():
    model = build_model("appearance", {})
    first, truth = frame_and_truth(10)
    model.start(first, truth)
    for x in range(16, 70, 6):  # fast motion: 6 px per frame
        frame, truth = frame_and_truth(x)
        assert jaccard(model.step(frame) == 1, truth == 1) > 0.8, x
    for _ in range(3):  # out of the frame
        frame, truth = frame_and_truth(None)
        assert not model.step(frame).any()
    frame, truth = frame_and_truth(120)  # back, far from where it left
    model.step(frame)
    frame, truth = frame_and_truth(124)
    assert jaccard(model.step(frame) == 1, truth == 1) > 0.8
