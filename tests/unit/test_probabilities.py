"""stseg.probabilities: the documented file format, read back as written, and bad files named."""

from __future__ import annotations

import numpy as np
import pytest

from stseg.probabilities import ProbabilityError, quantize, read_probabilities, write_probabilities


def test_round_trip_within_one_step_and_exact_on_the_grid(tmp_path):
    rng = np.random.default_rng(0)
    probs = {1: rng.random((7, 9)).astype(np.float32), 3: np.zeros((7, 9), np.float32)}
    path = tmp_path / "00001.npz"
    write_probabilities(path, probs)
    back = read_probabilities(path, (7, 9))
    assert sorted(back) == [1, 3] and back[1].dtype == np.float32
    assert np.abs(back[1] - probs[1]).max() <= 0.5 / 255 + 1e-7  # round(255 P) / 255
    assert np.array_equal(quantize(back[1]), quantize(probs[1]))  # values on the grid come back unchanged
    with np.load(path) as archive:  # the format the README documents
        assert archive["objects"].tolist() == [1, 3] and archive["p"].dtype == np.uint8 and archive["p"].shape == (2, 7, 9)


def test_bad_files_are_named_with_the_fix(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not an archive")
    with pytest.raises(ProbabilityError, match=r"bad.npz: not a probability file"):
        read_probabilities(path)
    np.savez(path, objects=np.array([1], np.uint8), p=np.zeros((1, 4, 4), np.float32))
    with pytest.raises(ProbabilityError, match=r"'p' must be uint8"):
        read_probabilities(path)
    write_probabilities(path, {1: np.zeros((4, 4), np.float32)})
    with pytest.raises(ProbabilityError, match=r"probabilities of size 4x4, the frame is 5x6"):
        read_probabilities(path, (6, 5))
