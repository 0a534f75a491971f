"""``xmem``: XMem (hkchengrex/XMem, MIT) through its ``InferenceCore``, run in its own environment.

XMem is not a package: the driver puts the checkout on ``sys.path`` and imports
``model.network.XMem`` and ``inference.inference_core.InferenceCore`` from it.
As in XMem's ``eval.py``, each frame is normalised with the ImageNet mean and
standard deviation and resized so its shorter side is ``size`` (480; -1 keeps
the original), the first-frame annotation enters as one channel per object with
``set_all_labels``, and the probabilities are brought back to the frame size
bilinearly before the arg-max.  The video is streamed frame by frame; XMem's
long-term memory (on by default, as in its evaluation) keeps memory bounded on
long videos.  Per-object scores are the mean probability of the pixels an
object wins.

Options: ``repo`` (checkout; else ``$STSEG_XMEM_REPO``), ``checkpoint``
(e.g. ``XMem.pth``; the key, value and hidden sizes are read from it, as
upstream does), ``size``, ``mem_every``, ``top_k``, ``long_term``,
``min_mid_term_frames``, ``max_mid_term_frames``, ``max_long_term_elements``,
``num_prototypes``, ``device``, ``amp``, ``random_init`` (tests only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..masks import object_ids
from .base import StreamingPropagator
from .device import autocast, resolve_device, rgb_tensor
from .upstream import (
    MODEL_ZOO_RESNETS,
    import_upstream,
    labels_from_probabilities,
    prepare,
    probabilities_at,
    require_complete,
)

__all__ = ["XMemPropagator", "build_network", "write_random_checkpoint"]

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def xmem_config(options: dict[str, Any], frames: int | None = None) -> dict[str, Any]:
    """The configuration dict XMem's ``InferenceCore`` and ``MemoryManager`` read (eval.py's defaults).

    ``frames``: the video's length; eval.py counts long-term memory usage only for a video long enough to fill
    it (``frames / (max_mid - min_mid) * num_prototypes >= max_long_term_elements``)."""
    config = {
        "top_k": int(options.get("top_k", 30)),
        "mem_every": int(options.get("mem_every", 5)),
        "deep_update_every": -1,
        "enable_long_term": bool(options.get("long_term", True)),
        "min_mid_term_frames": int(options.get("min_mid_term_frames", 5)),
        "max_mid_term_frames": int(options.get("max_mid_term_frames", 10)),
        "max_long_term_elements": int(options.get("max_long_term_elements", 10000)),
        "num_prototypes": int(options.get("num_prototypes", 128)),
    }
    long_video = frames is None or (frames / (config["max_mid_term_frames"] - config["min_mid_term_frames"])
                                    * config["num_prototypes"]) >= config["max_long_term_elements"]
    config["enable_long_term_count_usage"] = config["enable_long_term"] and long_video
    return config


def build_network(repo: str | None, checkpoint: str | None, config: dict[str, Any], device: str = "cpu",
                  random_init: bool = False):
    """The upstream ``XMem`` network with the checkpoint loaded (``config`` gets its sizes, as upstream)."""
    _, state = prepare("xmem", repo, checkpoint, random_init, MODEL_ZOO_RESNETS)  # weights_only=True, before upstream reads it
    network_module = import_upstream("xmem", "model.network")
    network = network_module.XMem(config, None if state is None else str(checkpoint), map_location="cpu")
    if state is not None:
        require_complete("xmem", network, state, checkpoint)
    return network.to(resolve_device(device)).eval()


def write_random_checkpoint(repo: str, out: str, seed: int = 0) -> None:
    """Save a randomly initialised XMem's weights (for tests: no download needed)."""
    import torch

    torch.manual_seed(seed)
    network = build_network(repo, None, xmem_config({}), random_init=True)
    torch.save(network.state_dict(), out)


class XMemPropagator(StreamingPropagator):
    defaults = {
        "repo": None,
        "checkpoint": None,
        "size": 480,
        "mem_every": 5,
        "top_k": 30,
        "long_term": True,
        "min_mid_term_frames": 5,
        "max_mid_term_frames": 10,
        "max_long_term_elements": 10000,
        "num_prototypes": 128,
        "device": "auto",
        "amp": True,
        "random_init": False,
        "probabilities": False,
    }

    #: frames of the video, and the index of the frame being segmented (XMem's eval.py uses both)
    _length = 0
    _index = 0

    def segment_video(self, files, labels, later=None):
        self._length, self._index = len(files), 0
        yield from super().segment_video(files, labels, later)

    def _image(self, frame: np.ndarray):
        """As eval.py's ``VideoReader`` gives a frame: RGB in [0, 1], normalised, then resized with torchvision's
        ``Resize(size)`` at the installed torchvision's defaults (whenever ``size`` >= 0, as there)."""
        image = (rgb_tensor(frame, self._device) - self._mean) / self._std
        if int(self.options["size"]) >= 0:
            from torchvision import transforms

            image = transforms.Resize(int(self.options["size"]), interpolation=transforms.InterpolationMode.BILINEAR)(image)
        return image

    def _channels(self, labels: np.ndarray):
        """One channel per object, brought to the network's size as eval.py's ``resize_mask`` does (nearest)."""
        import torch
        import torch.nn.functional as F

        one_hot = torch.stack([torch.from_numpy(labels == obj) for obj in self.objects]).float().to(self._device)
        size = int(self.options["size"])
        if size >= 0:
            h, w = labels.shape
            one_hot = F.interpolate(one_hot[None], (int(h / min(h, w) * size), int(w / min(h, w) * size)),
                                    mode="nearest")[0]
        return one_hot

    def _labels(self, prob, shape: tuple[int, int]) -> np.ndarray:
        """eval.py's upsampling, then the arg-max."""
        if int(self.options["size"]) >= 0:
            prob = probabilities_at(prob, shape)
        labels, self.scores, self.probabilities = labels_from_probabilities(prob, self.objects, shape,
                                                                            bool(self.options["probabilities"]))
        return labels

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        import torch

        o = self.options
        self._device = resolve_device(o["device"])
        config = xmem_config(o, self._length)
        # the network is built once per model instance (a batched job's videos share it); building it writes the
        # checkpoint's key/value/hidden sizes into its config, as upstream: each video's config gets them too
        sizes: dict[str, Any] = {}
        network = self.loaded("network", lambda: build_network(o["repo"], o["checkpoint"], sizes, str(self._device),
                                                               o["random_init"]))
        config.update(key_dim=network.key_dim, value_dim=network.value_dim, hidden_dim=network.hidden_dim)
        core = import_upstream("xmem", "inference.inference_core")
        self._processor = core.InferenceCore(network, config=config)
        self._mean = torch.tensor(MEAN, device=self._device)[:, None, None]
        self._std = torch.tensor(STD, device=self._device)[:, None, None]
        self._autocast = autocast(self._device, "float16", bool(o["amp"]))
        channels = list(range(1, len(self.objects) + 1))
        self._processor.set_all_labels(channels)
        with torch.inference_mode(), self._autocast:
            self._processor.step(self._image(frame), self._channels(labels), channels, end=self._length == 1)

    def add_objects(self, frame: np.ndarray, given: np.ndarray) -> np.ndarray:
        """XMem's own way (its ``eval.py`` on YouTube-VOS): one channel per object known so far, the new objects'
        masks in theirs, and ``valid_labels`` naming them; XMem segments the others and merges."""
        import torch

        new = [obj for obj in object_ids(given) if obj not in self.objects]
        self.objects = (*self.objects, *new)  # channel order: an object keeps its channel
        self._index += 1
        channels = list(range(1, len(self.objects) + 1))
        self._processor.set_all_labels(channels)
        with torch.inference_mode(), self._autocast:
            prob = self._processor.step(self._image(frame), self._channels(given), channels[len(channels) - len(new):],
                                        end=self._index == self._length - 1)
        return self._labels(prob, frame.shape[:2])

    def step(self, frame: np.ndarray) -> np.ndarray:
        import torch

        self._index += 1
        with torch.inference_mode(), self._autocast:
            prob = self._processor.step(self._image(frame), end=self._index == self._length - 1)
        return self._labels(prob, frame.shape[:2])
