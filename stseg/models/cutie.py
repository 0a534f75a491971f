"""``cutie``: Cutie (hkchengrex/Cutie, MIT) through its ``InferenceCore``, run in its own environment.

The driver builds the network from the checkout's own Hydra configuration
(``cutie/config/eval_config.yaml`` with the ``mose-val`` dataset settings:
``mem_every`` 5, no long-term memory, at most ``max_mem_frames`` working-memory
frames, so memory stays bounded on long videos), loads the checkpoint and
streams the video frame by frame: ``step(image, mask, objects)`` on frame 0,
``step(image)`` after, exactly the upstream scripting API.  A frame whose
shorter side is longer than ``size`` (480, the MOSE evaluation's; -1 keeps the
original) is brought to it as ``eval_vos.py``'s data loader does (torchvision's
antialiased bilinear resize, the mask nearest-neighbour), and the probabilities
are restored to the frame size bilinearly, as its ``ResultSaver`` does; so the
masks equal ``eval_vos.py``'s at its MOSE settings (``tests/unit/models/test_cutie.py``).
Per-object scores are the mean probability of the pixels an object wins.  Runs
on CUDA or CPU (``device``).

Options: ``repo`` (checkout; else ``$STSEG_CUTIE_REPO``), ``checkpoint``
(e.g. ``cutie-base-mega.pth``), ``model`` (base | small, must match the
checkpoint), ``size``, ``mem_every``, ``max_mem_frames``, ``long_term``,
``device``, ``amp`` (float16 autocast on CUDA), ``random_init`` (random weights:
tests only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..masks import object_ids
from .base import OptionError, StreamingPropagator
from .device import autocast, resolve_device, rgb_tensor
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

__all__ = ["CutiePropagator", "build_network", "write_random_checkpoint"]


def _config(repo: Path, model: str, overrides: dict[str, Any]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    if model not in ("base", "small"):
        raise OptionError(f"cutie: model={model!r} must be 'base' or 'small'")
    GlobalHydra.instance().clear()  # one model per process; SAM2 and Cutie both use global Hydra state
    with initialize_config_dir(config_dir=str(repo / "cutie" / "config"), version_base="1.3.2", job_name="stseg"):
        cfg = compose(config_name="eval_config", overrides=[f"model={model}", "dataset=mose-val"])
    args_utils = import_upstream("cutie", "cutie.inference.utils.args_utils")
    with open_dict(cfg):
        for key, value in overrides.items():
            cfg[key] = value
        args_utils.get_dataset_cfg(cfg)
    return cfg


def build_network(repo: str | None, checkpoint: str | None, model: str = "base", device: str = "cpu",
                  random_init: bool = False, overrides: dict[str, Any] | None = None):
    """The upstream ``CUTIE`` network with the checkpoint loaded, and its config."""
    path, state = prepare("cutie", repo, checkpoint, random_init, MODEL_ZOO_RESNETS)
    cfg = _config(path, model, overrides or {})
    cutie_module = import_upstream("cutie", "cutie.model.cutie")
    network = cutie_module.CUTIE(cfg)
    if state is not None:
        network.load_weights(state)
        require_complete("cutie", network, state, checkpoint)
    return network.to(resolve_device(device)).eval(), cfg


def write_random_checkpoint(repo: str, out: str, model: str = "base", seed: int = 0) -> None:
    """Save a randomly initialised Cutie's weights (for tests: no download needed)."""
    import torch

    torch.manual_seed(seed)
    network, _ = build_network(repo, None, model=model, random_init=True)
    torch.save(network.state_dict(), out)


class CutiePropagator(StreamingPropagator):
    defaults = {
        "repo": None,
        "checkpoint": None,
        "model": "base",
        "size": 480,
        "mem_every": 5,
        "max_mem_frames": 5,
        "long_term": False,
        "device": "auto",
        "amp": True,
        "random_init": False,
        "probabilities": False,
    }

    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        import torch

        o = self.options
        self._device = resolve_device(o["device"])
        self._autocast = autocast(self._device, "float16", bool(o["amp"]))
        # built in inference mode, as Cutie's own scripts do (the weights become inference tensors, which
        # changes which CPU kernels run: outside it the masks differ from upstream's in a few pixels)
        with torch.inference_mode():
            network, cfg = self.loaded("network", lambda: build_network(
                o["repo"], o["checkpoint"], o["model"], str(self._device), o["random_init"],
                {"mem_every": int(o["mem_every"]), "max_mem_frames": int(o["max_mem_frames"]),
                 "use_long_term": bool(o["long_term"]), "max_internal_size": -1},
            ))
            core = import_upstream("cutie", "cutie.inference.inference_core")
            self._processor = core.InferenceCore(network, cfg=cfg)
            with self._autocast:
                self._processor.step(self._image(frame), self._mask(labels), objects=list(self.objects))

    def _resized(self, shape: tuple[int, int]) -> bool:
        """Whether frames of this shape are brought to ``size`` (shorter side), as ``eval_vos.py``'s data loader
        does (``VideoReader``: only frames whose shorter side is longer than ``size``)."""
        size = int(self.options["size"])
        return size > 0 and min(shape) > size

    def _image(self, frame: np.ndarray):
        """The frame as Cutie's evaluation loader gives it: RGB in [0, 1], resized bilinearly with antialiasing."""
        image = rgb_tensor(frame, self._device)
        return loader_resize(image, int(self.options["size"])) if self._resized(frame.shape[:2]) else image

    @staticmethod
    def _full_size(prob, shape: tuple[int, int]):
        """Probabilities back at the frame's size as ``ResultSaver.process`` brings them."""
        return prob if tuple(prob.shape[-2:]) == tuple(shape) else probabilities_at(prob, shape)

    def _mask(self, labels: np.ndarray):
        """A label map as Cutie's evaluation loader gives it (nearest-neighbour resizing of the PNG)."""
        import torch

        if self._resized(labels.shape):
            labels = loader_resize_mask(labels, int(self.options["size"]))
        return torch.from_numpy(labels.astype(np.int64)).to(self._device)

    def add_objects(self, frame: np.ndarray, given: np.ndarray) -> np.ndarray:
        """Cutie's own way (its ``eval_vos.py`` on YouTube-VOS): a mask holding only the new objects, with their
        ids; Cutie segments the others and merges."""
        import torch

        new = list(object_ids(given))
        self.objects = tuple(sorted({*self.objects, *new}))
        with torch.inference_mode(), self._autocast:
            prob = self._processor.step(self._image(frame), self._mask(given), objects=new)
        ids = [self._processor.object_manager.tmp_id_to_obj[t].id for t in range(1, prob.shape[0])]
        labels, self.scores, self.probabilities = labels_from_probabilities(
            self._full_size(prob, frame.shape[:2]), ids, frame.shape[:2], bool(self.options["probabilities"]))
        return labels

    def step(self, frame: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode(), self._autocast:
            prob = self._processor.step(self._image(frame))
        # channel i of prob is Cutie's temporary id i; map it back to the annotation's object ids
        ids = [self._processor.object_manager.tmp_id_to_obj[t].id for t in range(1, prob.shape[0])]
        labels, self.scores, self.probabilities = labels_from_probabilities(
            self._full_size(prob, frame.shape[:2]), ids, frame.shape[:2], bool(self.options["probabilities"]))
        return labels
