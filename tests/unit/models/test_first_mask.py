"""stseg.models.first_mask: the ``copy`` baselines."""

from __future__ import annotations

import numpy as np

from stseg.models import build_model


def labels() -> np.ndarray:
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 1:3], mask[3:5, 5:7] = 1, 2
    return mask


def test_copy_repeats_the_first_mask_with_its_objects():
    model = build_model("copy", {})
    frame = np.zeros((6, 8, 3), np.uint8)
    model.start(frame, labels())
    assert model.objects == (1, 2)
    assert np.array_equal(model.step(frame), labels()) and np.array_equal(model.step(frame), labels())


def test_copy_foreground_repeats_only_the_foreground():
    model = build_model("copy-foreground", {})
    frame = np.zeros((6, 8, 3), np.uint8)
    model.start(frame, labels())
    assert np.array_equal(model.step(frame), (labels() > 0).astype(np.uint8))
