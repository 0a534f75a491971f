"""The row-by-row dilation against OpenCV's own dilate."""

import cv2
import numpy as np
import pytest

from stseg import morphology
from stseg.metrics import disk


@pytest.mark.parametrize("rows_from", [1, morphology.ROWS_FROM])
def test_dilate_is_opencvs_dilate_byte_for_byte(monkeypatch, rows_from):
    """Random binary images (thin outlines and blobs, some smaller than the footprint, set pixels on the edges),
    disks of integer and non-integer radius (off-centre grids, even sizes) and other footprints."""
    monkeypatch.setattr(morphology, "ROWS_FROM", rows_from)
    rng = np.random.default_rng(0)
    radii = [1, 2, 3, 5, 7.837, 8, 9, 12, 17.62, 18, 21.5, 25]
    for trial in range(150):
        height, width = (int(v) for v in rng.integers(1, 120, 2))
        image = (rng.random((height, width)) < rng.choice([0.002, 0.02, 0.3])).astype(np.uint8)
        if trial % 4 == 0:
            image[:, 0] = image[0, :] = 1
        kernel = disk(radii[trial % len(radii)])
        if trial % 7 == 3:  # a footprint with a row that is not one run: OpenCV's dilate
            kernel = kernel.copy()
            kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] = 0
        if trial % 11 == 5:  # a rectangle and a lopsided footprint
            kernel = np.ones((int(rng.integers(1, 30)), int(rng.integers(1, 30))), np.uint8)
            kernel[: kernel.shape[0] // 2, : kernel.shape[1] // 3] = 0
        assert np.array_equal(morphology.dilate(image, kernel), cv2.dilate(image, kernel)), trial


def test_the_disk_of_a_1080p_frame_goes_row_by_row():
    """The DAVIS tolerance at 1920x1080 (18 px) takes the row-by-row path; its runs are the disk's rows."""
    kernel = disk(18)
    assert kernel.shape[0] >= morphology.ROWS_FROM
    runs = morphology._runs(kernel.shape, kernel.tobytes())
    assert runs is not None and len(runs) == 37
    assert sum(length for length, *_ in runs) == int(kernel.sum())
