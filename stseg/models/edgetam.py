"""``edgetam``: EdgeTAM (facebookresearch/EdgeTAM, Apache-2.0), the SAM 2 family's on-device tracker, in its own
environment.

EdgeTAM ships as ``edgetam-dimos`` on PyPI, which installs a top-level ``sam2``
package of its own (a fork of SAM 2.0 with a RepViT image encoder and a 2D
spatial perceiver), so it cannot share an environment with the real ``sam2``:
it runs from a venv of its own named by ``models.<name>.python`` (docs/models.md:
"EdgeTAM").  The predictor has SAM 2's video API, so the driver is the ``sam2``
driver (:mod:`stseg.models.sam2`), with per-object presence scores, bounded
memory (EdgeTAM's predictor keeps every frame too) and CUDA with bfloat16 when
present.  It is built as EdgeTAM's own ``tools/vos_inference.py`` builds it:
``configs/edgetam.yaml``, ``apply_postprocessing=False``,
``++model.non_overlap_masks=true``, at the config's 1024-pixel input.

**Each object tracked on its own.**  EdgeTAM's spatial perceiver cannot encode
the memory of two objects at once (``perceiver.py``'s ``forward_2d`` views an
expanded tensor: ``RuntimeError: view size is not compatible`` for any batch of
two or more objects, on any device), so its ``vos_inference.py`` fails at its
defaults on every multi-object video.  Its ``--track_object_appearing_later_in_video``
mode tracks each object alone from the frame of its first mask and gives each
pixel to the object of the highest positive logit; the driver always does that
(the sam2 driver's per-object path), and its masks equal that mode's.

EdgeTAM's image encoder asks timm for ImageNet-pretrained RepViT weights when it
is constructed, which downloads them; the checkpoint read right after replaces
every weight (its loader refuses a checkpoint with a missing key), so the driver
builds the encoder without them: construction never touches the network.
Checkpoints are read with ``torch.load(weights_only=True)`` (EdgeTAM's loader).

Options: ``checkpoint`` (``edgetam.pt``, in the EdgeTAM repository's
``checkpoints/``; required unless ``random_init``), ``device``, ``bfloat16``,
``bounded_memory``, ``apply_postprocessing``, ``random_init`` (tests and
benchmarks only).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from ..errors import StsegError
from .base import Limit
from .device import resolve_device
from .sam2 import CheckpointError, SAM2Propagator

__all__ = ["CONFIG", "CHECKPOINT_NAME", "EdgeTAMPropagator", "EdgeTAMMissingError", "build_predictor",
           "write_random_checkpoint"]

CONFIG = "configs/edgetam.yaml"
CHECKPOINT_NAME = "edgetam.pt"
#: the input size of configs/edgetam.yaml
IMAGE_SIZE = 1024


class EdgeTAMMissingError(StsegError, ImportError):
    """The interpreter running the job does not have EdgeTAM's ``sam2`` package."""


def edgetam_package() -> Path:
    """The folder of the ``sam2`` package in this interpreter, checked to be EdgeTAM's."""
    try:
        import sam2
    except ImportError:
        sam2 = None  # type: ignore[assignment]
    folder = Path(sam2.__file__).parent if sam2 is not None and sam2.__file__ else None
    if folder is None or not (folder / CONFIG).is_file():
        raise EdgeTAMMissingError(
            "edgetam: this Python has no EdgeTAM (its sam2 package, from edgetam-dimos, with configs/edgetam.yaml"
            f"{'' if folder is None else f'; found the sam2 package at {folder} instead'}). EdgeTAM runs in an "
            "environment of its own: create it as docs/models.md's 'EdgeTAM' section shows and set "
            "models.<name>.python to its bin/python."
        )
    return folder


@contextlib.contextmanager
def without_pretrained_backbone() -> Iterator[None]:
    """While building, timm gives the RepViT encoder random weights instead of downloading ImageNet ones (the
    checkpoint replaces them all)."""
    from sam2.modeling.backbones import timm as backbone

    original = backbone.create_model

    def create_model(*args, **kwargs):
        kwargs["pretrained"] = False
        return original(*args, **kwargs)

    backbone.create_model = create_model
    try:
        yield
    finally:
        backbone.create_model = original


def build_predictor(checkpoint: str | None, device: str, apply_postprocessing: bool = False):
    """EdgeTAM's ``SAM2VideoPredictor`` built as its ``tools/vos_inference.py`` builds it (random weights when
    ``checkpoint`` is None)."""
    edgetam_package()
    from sam2.build_sam import build_sam2_video_predictor

    if checkpoint is not None and not Path(checkpoint).is_file():
        raise CheckpointError(
            f"{checkpoint}: EdgeTAM checkpoint not found. EdgeTAM's weights are {CHECKPOINT_NAME} in the "
            "checkpoints/ folder of the EdgeTAM repository (github.com/facebookresearch/EdgeTAM); set "
            "models.<name>.options.checkpoint to its path."
        )
    with without_pretrained_backbone():
        return build_sam2_video_predictor(CONFIG, ckpt_path=checkpoint, device=device,
                                          apply_postprocessing=apply_postprocessing,
                                          hydra_overrides_extra=["++model.non_overlap_masks=true"])


def write_random_checkpoint(out: str, seed: int = 0) -> None:
    """Save a randomly initialised EdgeTAM as its release checkpoint is (``{"model": state_dict}``), for tests and
    benchmarks.  Its object-presence head gets a large bias: with every weight random it says "no object" on
    every frame and every mask is empty, which would make a comparison of masks vacuous; with the bias the
    masks come from the (random) mask decoder."""
    import torch

    torch.manual_seed(seed)
    state = build_predictor(None, "cpu").state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"].fill_(10.0)
    torch.save({"model": state}, out)


class EdgeTAMPropagator(SAM2Propagator):
    defaults = {
        "checkpoint": None,
        "device": "auto",
        "bfloat16": True,
        "bounded_memory": True,
        "apply_postprocessing": False,
        "random_init": False,
    }
    limits: dict[str, Limit] = {}  # SAM2's size and image_size are not EdgeTAM's options (one size)

    def __init__(self, **options) -> None:
        super().__init__(**options)
        # what the sam2 driver's shared code reads: EdgeTAM has one size, at its config's input size
        self.options = {**self.options, "size": "edgetam", "image_size": IMAGE_SIZE}

    def memory_estimate_mb(self, frames: int, height: int, width: int) -> float | None:
        per_frame = 3 * IMAGE_SIZE * IMAGE_SIZE * 4 / 2**20
        held = frames if not self.options["bounded_memory"] else min(frames, 16)
        return 14.0 * 4 + held * per_frame  # about 14 M parameters, float32

    def segment_video(self, files, labels, later=None):
        """Every object on its own (module docstring), as ``vos_inference.py --track_object_appearing_later_in_video``."""
        yield from self._segment_per_object([Path(f) for f in files], labels, later or {})

    def _predictor(self):
        checkpoint = self.options["checkpoint"]
        if checkpoint is None and not self.options["random_init"]:
            raise CheckpointError(
                f"edgetam: no checkpoint configured; set models.<name>.options.checkpoint to {CHECKPOINT_NAME} "
                "(the EdgeTAM repository's checkpoints/ folder)."
            )
        return build_predictor(checkpoint, str(resolve_device(self.options["device"])),
                               bool(self.options["apply_postprocessing"]))
