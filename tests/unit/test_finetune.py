"""stseg.finetune: SAM2 fine-tuning's inputs, read safely."""

from __future__ import annotations

import os
import pickle

import pytest
from helpers import plant

torch = pytest.importorskip("torch", reason="torch is not installed")


def test_the_finetune_initial_checkpoint_is_read_as_tensors_only(tmp_path):
    from stseg.finetune import verified_copy

    marker = tmp_path / "pwned"
    planted = tmp_path / "init.pt"
    plant(planted, marker)
    with pytest.raises(pickle.UnpicklingError):
        verified_copy(planted, tmp_path / "work")
    assert not marker.exists() and not (tmp_path / "work" / "init-checkpoint.verified.pt").exists()
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.ones(2)}}, good)
    copy = verified_copy(good, tmp_path / "work")
    assert torch.equal(torch.load(copy, weights_only=True)["model"]["w"], torch.ones(2))
    assert os.path.dirname(copy) == str(tmp_path / "work")
