"""``tmo``: TMO (suhwan-cho/TMO; non-commercial research use only), unsupervised, foreground only.

TMO segments the salient moving foreground of each frame from the frame and an
optical-flow image, without the first-frame annotation.  Its ``TMO.forward``
treats every frame on its own, so the driver streams the video in chunks of
``chunk`` frames (the result equals one call on the whole video) instead of
holding it whole as upstream's test loop does.  Each output frame is a
foreground map (1 = foreground, 0 = background); frame 0 is the annotation's
foreground.  :mod:`stseg.foreground` splits it into the annotation's objects
after the other models have run, and the pseudo-labels count it as a
"some object here" vote (docs/models.md: "TMO and foreground-only models").

**Flow.**  TMO was trained on RAFT flow rendered as colour images (colour =
direction, saturation = speed, white = still).  ``flow: <folder>`` reads such
images from ``<folder>/<video>/<frame>.jpg`` (e.g. TMO's pre-processed
``JPEGFlows``); ``flow: opencv`` (the default) computes them here with OpenCV's
DIS optical flow and renders them with the same convention (hue = direction,
saturation = magnitude / the frame's largest magnitude, full brightness).  This
is a documented deviation: DIS is faster and coarser than RAFT, and the hue
wheel is OpenCV's HSV one rather than the Middlebury wheel, so results with
``opencv`` flow can be below TMO's published ones.  The flow of frame ``t`` is
from ``t`` to ``t + 1`` (the last frame uses ``t`` to ``t - 1``).

Options: ``repo`` (checkout; else ``$STSEG_TMO_REPO``), ``checkpoint``
(``TMO_rn101.pth``), ``backbone`` (rn101; mitb1 needs the Hugging Face model
``nvidia/mit-b1`` in the local cache), ``aos`` (adaptive output selection),
``flow``, ``chunk``, ``device``, ``random_init`` (tests only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np

from ..dataset import read_frame
from ..errors import MissingInputError
from .base import OptionError, Propagator
from .device import resolve_device
from .upstream import (
    TORCHVISION_RESNET101,
    import_upstream,
    prepare,
    require_complete,
)

__all__ = ["TMOForeground", "flow_image", "build_network", "write_random_checkpoint"]


def flow_image(flow: np.ndarray) -> np.ndarray:
    """Render a ``H×W×2`` flow field as an RGB ``uint8`` image: hue = direction, saturation = speed."""
    magnitude, angle = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32))
    largest = float(magnitude.max())
    hsv = np.empty((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = np.round(angle * (90.0 / np.pi)).astype(np.uint8) % 180  # OpenCV hue is 0..179
    hsv[..., 1] = np.clip(np.round(255.0 * magnitude / largest), 0, 255).astype(np.uint8) if largest > 0 else 0
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def opencv_flows(files: Sequence[Path]) -> Iterator[np.ndarray]:
    """Flow images (RGB) of each frame, computed with DIS: frame t -> t + 1 (last: t -> t - 1)."""
    dis = cv2.DISOpticalFlow_create(  # type: ignore[attr-defined]
        cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def grey(path: Path) -> np.ndarray:
        return read_frame(path, cv2.IMREAD_GRAYSCALE)

    if len(files) == 1:
        yield flow_image(np.zeros((*grey(files[0]).shape, 2), np.float32))
        return
    current = grey(files[0])
    for index in range(len(files)):
        if index + 1 < len(files):
            following = grey(files[index + 1])
            yield flow_image(dis.calc(current, following, None))
            previous, current = current, following
        else:
            yield flow_image(dis.calc(current, previous, None))


def folder_flows(files: Sequence[Path], root: Path) -> Iterator[np.ndarray]:
    """Flow images read from ``root/<video>/<frame>.jpg`` (RGB)."""
    for path in files:
        flow_path = root / path.parent.name / f"{path.stem}.jpg"
        image = cv2.imread(str(flow_path), cv2.IMREAD_COLOR)
        if image is None:
            raise MissingInputError(f"{flow_path}: flow image missing or unreadable (tmo option flow: {root}).")
        yield image[:, :, ::-1]


def build_network(repo: str | None, checkpoint: str | None, backbone: str = "rn101", aos: bool = False,
                  device: str = "cpu", random_init: bool = False):
    """The upstream ``TMO`` network with the checkpoint loaded."""
    if backbone not in ("rn101", "mitb1"):
        raise OptionError(f"tmo: backbone={backbone!r} must be 'rn101' or 'mitb1'")
    _, state = prepare("tmo", repo, checkpoint, random_init, TORCHVISION_RESNET101)
    tmo_module = import_upstream("tmo", "tmo")
    network = tmo_module.TMO(backbone, aos)
    if state is not None:
        state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
        require_complete("tmo", network, state, checkpoint)
        network.load_state_dict(state)
    return network.to(resolve_device(device)).eval()


def write_random_checkpoint(repo: str, out: str, seed: int = 0) -> None:
    """Save a randomly initialised TMO's weights (for tests: no download needed)."""
    import torch

    torch.manual_seed(seed)
    torch.save(build_network(repo, None, random_init=True).state_dict(), out)


class TMOForeground(Propagator):
    """Foreground-only model: the label maps it yields hold 1 (foreground) and 0."""

    defaults = {"repo": None, "checkpoint": None, "backbone": "rn101", "aos": False, "flow": "opencv",
                "chunk": 8, "device": "auto", "random_init": False}

    def segment_video(self, files: Sequence[Path], labels: np.ndarray,
                      later: Mapping[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """TMO is unsupervised: it ignores the annotation, and the objects first annotated later reach its
        foreground through :mod:`stseg.foreground`, as the first frame's do."""
        import torch

        from ..dataset import read_frames

        o = self.options
        chunk = int(o["chunk"])
        if chunk < 1:
            raise OptionError(f"tmo: chunk={chunk} must be at least 1")
        device = resolve_device(o["device"])
        network = self.loaded("network", lambda: build_network(o["repo"], o["checkpoint"], o["backbone"], bool(o["aos"]),
                                                              str(device), o["random_init"]))
        files = [Path(f) for f in files]
        flows = opencv_flows(files) if o["flow"] == "opencv" else folder_flows(files, Path(o["flow"]))
        next(flows)  # frame 0 is the annotation
        frames = read_frames(files)
        next(frames)
        todo = len(files) - 1
        with torch.inference_mode():
            while todo:
                n = min(chunk, todo)
                todo -= n
                images = [torch.from_numpy(np.ascontiguousarray(next(frames)[:, :, ::-1])) for _ in range(n)]
                flow_images = [torch.from_numpy(np.ascontiguousarray(next(flows))) for _ in range(n)]
                imgs = torch.stack(images).permute(0, 3, 1, 2).contiguous().float().div(255.0)[None].to(device)
                flw = torch.stack(flow_images).permute(0, 3, 1, 2).contiguous().float().div(255.0)[None].to(device)
                masks = network(imgs, flw)["masks"][0, :, 0].cpu().numpy().astype(np.uint8)
                for mask in masks:
                    self.scores = {}
                    yield mask
