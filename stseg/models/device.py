"""Where a torch model runs and in what precision: the helpers every torch driver (SAM2, Cutie, XMem, LiVOS, TMO) uses.

``device`` options take ``"auto"`` (CUDA when present, else the CPU) or any name
torch accepts (``"cpu"``, ``"cuda:1"``).  Mixed precision is used on CUDA only:
SAM2 runs under bfloat16 autocast as its ``vos_inference.py`` does, Cutie and
XMem under float16 as their evaluation scripts' ``amp`` flag does.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

__all__ = ["resolve_device", "autocast", "rgb_tensor"]


def resolve_device(device: str) -> Any:
    """The ``torch.device`` an option names (``"auto"``: CUDA when available, else CPU)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast(device: Any, dtype: str, enabled: bool) -> AbstractContextManager:
    """Autocast to ``dtype`` (``"bfloat16"``/``"float16"``) on a CUDA ``device`` when ``enabled``; elsewhere a no-op."""
    import torch

    if enabled and torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=getattr(torch, dtype))
    return nullcontext()


def rgb_tensor(frame_bgr: np.ndarray, device: Any) -> Any:
    """A BGR ``uint8`` frame as a ``3×H×W`` float RGB tensor in [0, 1] on ``device``."""
    import torch

    rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
    return torch.from_numpy(rgb).to(device).permute(2, 0, 1).contiguous().float().div_(255.0)
