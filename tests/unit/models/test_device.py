"""stseg.models.device: where a torch driver runs and in what precision."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from stseg.models.device import autocast, resolve_device, rgb_tensor  # noqa: E402


def test_auto_is_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_autocast_only_on_cuda_and_when_enabled():
    with autocast(torch.device("cpu"), "bfloat16", True):
        assert not torch.is_autocast_enabled("cuda") and not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with autocast("cuda", "float16", False):
        assert not torch.is_autocast_enabled("cuda")


def test_rgb_tensor_reverses_opencvs_channel_order_and_scales():
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[..., 0] = 255  # blue in OpenCV's BGR
    tensor = rgb_tensor(frame, "cpu")
    assert tensor.shape == (3, 2, 3) and tensor.dtype == torch.float32
    assert tensor[2].eq(1.0).all() and tensor[:2].eq(0.0).all()
