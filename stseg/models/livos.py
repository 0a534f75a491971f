"""``livos``: LiVOS (uncbiag/LiVOS, MIT; built on Cutie's code) run in its own environment.

LiVOS's streaming API is the ``InferenceCore`` class of ``livos/eval.py``
(gated linear matching: a fixed-size state instead of a growing memory, so
memory is constant in the video's length).  The driver builds
``LIVOS(model_type)``, loads the checkpoint, brings each frame's shorter side to
``size`` (480 as in LiVOS's MOSE evaluation; -1 keeps the original) and calls
``step(image, mask, objects)`` on frame 0 and ``step(image, is_last_frame=...)``
after; the probabilities are restored to the frame size bilinearly before the
arg-max, and per-object scores are the mean probability of the pixels an object
wins.  Images enter in [0, 1]: LiVOS normalises them itself.

Options: ``repo`` (checkout; else ``$STSEG_LIVOS_REPO``), ``checkpoint``
(e.g. ``livos-nomose-480p.pth``), ``model`` (base | small), ``size``,
``device``, ``random_init`` (tests only).  LiVOS evaluates in float32; so does
the driver.
"""

from __future__ import annotations

import numpy as np

from .base import OptionError, StreamingPropagator
from .device import resolve_device, rgb_tensor
from .upstream import (
    MODEL_ZOO_RESNETS,
    import_upstream,
    labels_from_probabilities,
    loader_resize,
    loader_resize_mask,
    prepare,
    probabilities_at,
    require_complete,
)

__all__ = ["LiVOSPropagator", "build_network", "write_random_checkpoint"]


def build_network(repo: str | None, checkpoint: str | None, model: str = "base", device: str = "cpu",
                  random_init: bool = False):
    """The upstream ``LIVOS`` network with the checkpoint loaded."""
    if model not in ("base", "small"):
        raise OptionError(f"livos: model={model!r} must be 'base' or 'small'")
    _, state = prepare("livos", repo, checkpoint, random_init, MODEL_ZOO_RESNETS)
    wrapper = import_upstream("livos", "livos.model.livos_wrapper")
    network = wrapper.LIVOS(model_type=model)
    if state is not None:
        network.load_weights(state)
        require_complete("livos", network, state, checkpoint)
    return network.to(resolve_device(device)).eval()


def write_random_checkpoint(repo: str, out: str, model: str = "base", seed: int = 0) -> None:
    """Save a randomly initialised LiVOS's weights (for tests: no download needed)."""
    import torch

    torch.manual_seed(seed)
    torch.save(build_network(repo, None, model, random_init=True).state_dict(), out)


class LiVOSPropagator(StreamingPropagator):
    defaults = {"repo": None, "checkpoint": None, "model": "base", "size": 480, "device": "auto", "random_init": False,
                "probabilities": False}

    #: index of the video's last frame (LiVOS skips the state update there); -1 when unknown
    _last = -1
    #: index of the frame being segmented
    _index = 0

    def segment_video(self, files, labels, later=None):
        self._last = len(files) - 1
        self._index = 0
        self._network = None
        yield from super().segment_video(files, labels, later)

    def add_objects(self, frame: np.ndarray, given: np.ndarray) -> np.ndarray:
        """LiVOS takes masks on its first frame only (``livos/eval.py``): it starts again from this frame with the
        merged map of every object (the base class's way), keeping the network and the frame count."""
        index = self._index + 1
        merged = super().add_objects(frame, given)
        self._index = index
        return merged

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        import torch

        o = self.options
        self._device = resolve_device(o["device"])
        def build():
            # built in inference mode, as livos/eval.py builds it (inference tensors select other CPU kernels)
            with torch.inference_mode():
                return build_network(o["repo"], o["checkpoint"], o["model"], str(self._device), o["random_init"])

        self._network = self.loaded("network", build)
        evaluation = import_upstream("livos", "livos.eval")
        self._processor = evaluation.InferenceCore(self._network)
        with torch.inference_mode():
            self._processor.step(self._image(frame), self._mask(labels), list(self.objects), self._index == self._last)

    def _image(self, frame: np.ndarray):
        """As ``livos/eval.py``'s ``VideoReader`` gives a frame: RGB in [0, 1], brought to ``size`` (shorter side,
        whenever ``size`` > 0) by torchvision's antialiased bilinear resize."""
        image = rgb_tensor(frame, self._device)
        return loader_resize(image, int(self.options["size"])) if int(self.options["size"]) > 0 else image

    def _mask(self, labels: np.ndarray):
        """A label map as that reader gives it (nearest-neighbour resizing of the PNG)."""
        import torch

        if int(self.options["size"]) > 0:
            labels = loader_resize_mask(labels, int(self.options["size"]))
        return torch.from_numpy(labels.astype(np.int64)).to(self._device)

    def step(self, frame: np.ndarray) -> np.ndarray:
        import torch

        self._index += 1
        with torch.inference_mode():
            prob = self._processor.step(self._image(frame), None, None, self._index == self._last)
        if int(self.options["size"]) > 0:  # as its ResultSaver
            prob = probabilities_at(prob, frame.shape[:2])
        ids = [self._processor.object_manager.tmp_id_to_obj[t].id for t in range(1, prob.shape[0])]
        labels, self.scores, self.probabilities = labels_from_probabilities(prob, ids, frame.shape[:2],
                                                                            bool(self.options["probabilities"]))
        return labels
