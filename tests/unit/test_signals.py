"""stseg.signals: edge alignment, the evidence that does not come from the models' vote."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stseg.masks import write_label_map
from stseg.signals import edge_alignment, edge_alignment_frame, gradient_magnitude

H, W = 60, 80


def scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(50, 3, (H, W, 3)), 0, 255).astype(np.uint8)  # faint texture: a non-zero percentile
    frame[20:40, 30:50] = 200  # a bright square: its outline is where the image's edges are
    truth = np.zeros((H, W), np.uint8)
    truth[20:40, 30:50] = 1
    return frame, truth


def test_a_mask_on_the_objects_outline_aligns_and_a_shifted_one_does_not():
    frame, truth = scene()
    gradient = gradient_magnitude(frame)
    shifted = np.roll(truth, (8, -12), axis=(0, 1))
    right, wrong = edge_alignment_frame(gradient, truth, [1])[0], edge_alignment_frame(gradient, shifted, [1])[0]
    assert right > 0.5 and wrong < 0.5 * right
    assert np.isnan(edge_alignment_frame(gradient, np.zeros_like(truth), [1])[0])  # empty mask: no value


def test_the_gradient_is_normalised_by_its_90th_percentile():
    frame, _ = scene()
    low = (frame.astype(np.float32) / 2).astype(np.uint8)  # the same scene at half the contrast
    assert np.percentile(gradient_magnitude(frame), 90) == pytest.approx(1.0)
    assert gradient_magnitude(frame).max() == pytest.approx(gradient_magnitude(low).max(), rel=0.25)


def test_a_model_that_loses_the_object_earns_nothing_on_those_frames(tmp_path):
    frame, truth = scene()
    files = []
    for t in range(5):
        files.append(tmp_path / f"{t:05d}.jpg")
        cv2.imwrite(str(files[-1]), frame)
    for name, maps in {"kept": [truth] * 5, "half": [truth, truth, truth, np.zeros_like(truth), np.zeros_like(truth)]}.items():
        for t, labels in enumerate(maps):
            write_label_map(tmp_path / name / f"{t:05d}.png", labels)
    scores = edge_alignment(files, {"kept": tmp_path / "kept", "half": tmp_path / "half"}, [1])
    # frame 0 is the annotation and not counted: 'half' keeps the object on 2 of the 4 frames
    assert scores["half"][0] == pytest.approx(scores["kept"][0] * 2 / 4)


def test_the_bucketed_percentile_is_numpys_bit_for_bit():
    """Sobel responses of random 8-bit images (1 pixel to 80x80, mostly flat to noisy, and some about 1100x1100),
    and other arrays: the scale of the gradient equals np.percentile(magnitude, 90), value and type."""
    import cv2
    import numpy as np

    from stseg.signals import ninetieth_percentile

    rng = np.random.default_rng(0)
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(1, 80, 2))
        if trial % 10 == 0:  # a frame's size
            height, width = (int(v) for v in rng.integers(1000, 1200, 2))
        grey = rng.integers(0, 256, (height, width)).astype(np.float32) * (rng.random((height, width)) < rng.random())
        dx, dy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        square = dx * dx + dy * dy
        expected, got = np.percentile(np.sqrt(square), 90), ninetieth_percentile(np.sqrt(square))
        assert expected == got and np.asarray(expected).dtype == np.asarray(got).dtype
    for values in (rng.random((300, 400), dtype=np.float32) * 3, rng.random(9000).astype(np.float32),
                   np.full((100, 100), 7.5, np.float32), np.zeros((90, 90), np.float32),
                   rng.random((100, 100)) * 100, np.full((4, 4), 0.5, np.float32)):
        # fractional values, ties, one bucket, float64 (numpy's own percentile), a small array
        assert ninetieth_percentile(values) == np.percentile(values, 90)
    with_nan = rng.random((100, 100), dtype=np.float32)
    with_nan[5, 5] = np.nan
    assert np.isnan(ninetieth_percentile(with_nan))
