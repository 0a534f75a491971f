"""``sam3``: SAM 3's tracker (the ``sam3`` package, facebookresearch/sam3) with mask prompts, in its own
environment, in memory that does not grow with the video.

``sam3`` 0.1.4 pins ``numpy<2.4`` (pip then also takes pandas 2.x), which would
change stseg's own outputs (its CSV floats, numpy's percentile), so it runs from a
venv of its own named by ``models.<name>.python`` (``pip install "stseg[sam3]"``
there; docs/models.md: "SAM 3"), as EdgeTAM does.

**SAM 3's own path.**  SAM 3 does mask-prompted video tracking (the SAM 2 task)
with its tracker, ``Sam3TrackerPredictor``: its video predictor
(``Sam3VideoPredictor``) takes text, points and boxes only.  SAM 3's notebook for
the task builds the whole video model (``build_sam3_video_model``), takes its
``tracker`` and gives it the detector's backbone; the driver builds the same
tracker with that backbone alone (``build_tracker(apply_temporal_disambiguation=True,
with_backbone=True)``: the video model's default, without the detector and text
encoder it never uses, about 450 M parameters fewer) and reads the release
checkpoint's ``tracker.*`` and ``detector.backbone.vision_backbone.*`` weights
into it (:func:`tracker_weights`; the mask equality test runs the notebook's path
itself on a checkpoint in the release layout).  Every object of the first-frame
annotation is added with ``add_new_mask`` on frame 0 and the masks are propagated
with ``propagate_in_video``.

**Overlaps** between objects are resolved as SAM 3's video inference resolves
them for its output (``Sam3VideoInference._postprocess_output``): each object's
mask is its logits above 0, and where masks overlap the object with the higher
tracker score (sigmoid of ``object_score_logits``) keeps the pixel (ties to the
lower id), through the tracker's own ``_apply_object_wise_non_overlapping_constraints``.
The tracker scores are kept per frame as SAM2's are.  A video with objects first
annotated later is segmented object by object, each from the frame of its first
mask (SAM 3's tracker takes no new object once tracking has started), and the
objects are combined by the same rule.

**Bounded memory** (``bounded_memory: true``, the default).  The unmodified
tracker decodes every frame of the video at ``init_state`` (3 × 1008 × 1008
float32, 12 MB a frame) and keeps every frame's outputs to the end.  Here frames
are decoded when the model asks for them (SAM 3's own loader: the same tensors)
and after each frame the outputs attention can no longer read are dropped: with
memory selection (SAM 3's default) the tracker reads, among the past frames, only
the last one and the most recent ``max_obj_ptrs_in_encoder - 1`` frames whose
score is above ``mf_threshold`` (its ``frame_filter``), so every other output is
dropped; without it, the outputs older than the memory window.  The masks are
those of the unmodified tracker.

**Devices.**  SAM 3 is GPU-only as shipped: its constructors and its predictor
create tensors on ``"cuda"`` directly, and its tracker runs under its own
bfloat16 autocast on CUDA.  ``device: cpu`` runs it on the CPU through
:func:`cuda_on_cpu`, one small redirect of those hard-coded devices, for tests:
its 1008-pixel backbone takes about a minute per frame on two CPU cores.

Options: ``checkpoint`` (``sam3.pt`` of facebook/sam3 on Hugging Face; required
unless ``random_init``), ``device`` (auto: CUDA, else an error saying so),
``memory_selection`` (SAM 3's temporal disambiguation, on by default as in its
video model), ``bounded_memory``, ``probabilities`` (each object's sigmoid of its
logits, the pixels it lost to another object brought below 0.5, beside the
masks; not for videos with objects first annotated later), ``random_init``
(tests and benchmarks only).  Checkpoints are read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, NoReturn, Sequence

import numpy as np

from ..errors import WEIGHTS_TABLE, StsegError
from ..masks import object_ids
from .base import OptionError, Propagator
from .sam2 import CheckpointError, LazyFrames, first_annotations, memory_window

__all__ = ["CHECKPOINT_NAME", "IMAGE_SIZE", "SAM3Propagator", "SAM3MissingError", "build_tracker", "cuda_on_cpu",
           "tracker_weights", "reachable_frames", "write_random_checkpoint"]

CHECKPOINT_NAME = "sam3.pt"
#: SAM 3's input size (``build_tracker``'s ``image_size``)
IMAGE_SIZE = 1008
#: parameters of the tracker with its backbone (millions), for the memory estimate
PARAMETERS_M = 473.6
#: where the tracker's weights sit in the release checkpoint -> where they go in the tracker with its backbone
PREFIXES = {"tracker.": "", "detector.backbone.vision_backbone.": "backbone.vision_backbone."}


class SAM3MissingError(StsegError, ImportError):
    """The interpreter running the job does not have the ``sam3`` package."""


class NoCudaError(StsegError, RuntimeError):
    """``device: auto`` on a machine without CUDA."""


def _is_cuda(device: Any) -> bool:
    import torch

    if isinstance(device, torch.device):
        return device.type == "cuda"
    return isinstance(device, str) and device.startswith("cuda")


@contextlib.contextmanager
def cuda_on_cpu() -> Iterator[None]:
    """Run SAM 3 on the CPU (tests only): while active, a tensor asked for on ``"cuda"`` is made on the CPU,
    ``Tensor.cuda``, ``Tensor.pin_memory`` and ``Module.cuda`` return their object, and ``.to("cuda")`` goes to
    the CPU.  Nothing else changes: the arithmetic is SAM 3's own, on the CPU."""
    import torch
    from torch.overrides import TorchFunctionMode

    class CudaOnCpu(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in (torch.Tensor.cuda, torch.Tensor.pin_memory):
                return args[0]
            if _is_cuda(kwargs.get("device")):
                kwargs["device"] = "cpu"
            if func is torch.Tensor.to:
                args = tuple("cpu" if _is_cuda(arg) else arg for arg in args)
            return func(*args, **kwargs)

    module_cuda = torch.nn.Module.cuda
    torch.nn.Module.cuda = lambda self, device=None: self  # type: ignore[method-assign,assignment]
    try:
        with CudaOnCpu():
            yield
    finally:
        torch.nn.Module.cuda = module_cuda  # type: ignore[method-assign]


def _sam3_builder():
    try:
        from sam3 import model_builder
    except ImportError as error:
        raise SAM3MissingError(
            f"sam3: this Python has no SAM 3 ({error}). SAM 3 runs in an environment of its own: create it as "
            "docs/models.md's 'SAM 3' section shows (pip install \"stseg[sam3]\" in a new venv) and set "
            "models.<name>.python to its bin/python."
        ) from None
    return model_builder


def tracker_weights(release: Mapping[str, Any]) -> dict[str, Any]:
    """The tracker's weights (with its backbone) out of a checkpoint in SAM 3's release layout (``sam3.pt``: the
    video model's state, optionally under ``"model"``): ``tracker.*`` and the detector's vision backbone, which
    SAM 3's video model shares with its tracker."""
    if isinstance(release.get("model"), dict):
        release = release["model"]
    weights = {}
    for key, value in release.items():
        for prefix, target in PREFIXES.items():
            if key.startswith(prefix):
                weights[target + key[len(prefix):]] = value
    return weights


def build_tracker(checkpoint: str | None, memory_selection: bool = True):
    """SAM 3's ``Sam3TrackerPredictor`` with its vision backbone, in eval mode, on the CPU (the caller moves it;
    random weights when ``checkpoint`` is None).  Run inside :func:`cuda_on_cpu` where there is no CUDA."""
    import torch

    builder = _sam3_builder()
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise CheckpointError(
            f"{checkpoint}: SAM 3 checkpoint not found. SAM 3's weights are {CHECKPOINT_NAME} of facebook/sam3 "
            f"on Hugging Face ({WEIGHTS_TABLE}); set models.<name>.options.checkpoint to its path."
        )
    weights = None
    if checkpoint is not None:
        weights = tracker_weights(torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True))
        if not weights:  # checked before the network is built
            _not_sam3(checkpoint, "none of the tracker's weights")
    tracker = builder.build_tracker(apply_temporal_disambiguation=memory_selection, with_backbone=True)
    if checkpoint is not None and weights is not None:  # both: mypy narrows checkpoint here
        missing = sorted(set(tracker.state_dict()) - set(weights))
        if missing:
            _not_sam3(checkpoint, f"{len(missing)} of the tracker's weights missing, e.g. {missing[0]!r}")
        tracker.load_state_dict(weights, strict=True)
    return tracker.eval()


def _not_sam3(checkpoint: str, what: str) -> NoReturn:
    raise CheckpointError(f"{checkpoint}: not a SAM 3 checkpoint in its release layout ({what}); use {CHECKPOINT_NAME} "
                          f"of facebook/sam3 ({WEIGHTS_TABLE}).")


def write_random_checkpoint(out: str, seed: int = 0) -> None:
    """A randomly initialised tracker saved in SAM 3's release layout (its keys under ``tracker.`` and
    ``detector.backbone.vision_backbone.``), for benchmarks.  Its object-score head gets a large bias: with
    every weight random it says "no object" on every frame, which would leave every mask empty."""
    import torch

    torch.manual_seed(seed)
    with cuda_on_cpu():
        state = build_tracker(None).state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"].fill_(10.0)
    back = {target: prefix for prefix, target in PREFIXES.items() if target}
    release = {}
    for key, value in state.items():
        prefix = next((p for t, p in back.items() if key.startswith(t)), None)
        release[prefix + key[len("backbone.vision_backbone."):] if prefix else "tracker." + key] = value
    torch.save({"model": release}, out)


def reachable_frames(tracker, outputs: Mapping[int, Mapping[str, Any]], frame_idx: int) -> set[int]:
    """The non-conditioning frames (of ``outputs``, those tracked up to ``frame_idx``, forward) whose outputs the
    tracker can still read on a later frame.

    With memory selection (SAM 3's ``frame_filter``), a later frame reads the frame just before it and the most
    recent ``min(frames, max_obj_ptrs_in_encoder) - 1`` frames whose ``eff_iou_score`` is above
    ``mf_threshold``: later frames only add more recent ones, so ``frame_idx`` and the most recent such frames
    are all it can ever read.  Without it, the frames of the memory window (:func:`stseg.models.sam2.memory_window`).
    """
    if not getattr(tracker, "use_memory_selection", False):
        window = memory_window(tracker)
        return {t for t in outputs if t > frame_idx - window}
    kept = max(tracker.max_obj_ptrs_in_encoder - 1, 0)
    scored = sorted((t for t, out in outputs.items()
                     if "eff_iou_score" in out and bool(out["eff_iou_score"] > tracker.mf_threshold)), reverse=True)
    return {frame_idx, *scored[:kept]}


class SAM3Propagator(Propagator):
    defaults = {
        "checkpoint": None,
        "device": "auto",
        "memory_selection": True,
        "bounded_memory": True,
        "probabilities": False,
        "random_init": False,
    }

    def memory_estimate_mb(self, frames: int, height: int, width: int) -> float | None:
        """Twice the weights (float32: the peak while tracking was about that on a CPU,
        benchmarks/bench_sam3_memory.py) plus the decoded frames the tracker holds: every frame when
        ``bounded_memory`` is off (the unmodified tracker decodes the video at ``init_state``), else one."""
        per_frame = 3 * IMAGE_SIZE * IMAGE_SIZE * 4 / 2**20
        held = frames if not self.options["bounded_memory"] else 1
        return 2 * PARAMETERS_M * 4 + held * per_frame

    def _device(self):
        import torch

        device = self.options["device"]
        if device == "auto":
            if not torch.cuda.is_available():
                raise NoCudaError(
                    "sam3: no CUDA device. SAM 3 is GPU-only as shipped (its code puts tensors on \"cuda\"; on a CPU "
                    "its 1008-pixel backbone takes about a minute per frame): run the job on a GPU node, or set "
                    "models.<name>.options.device: cpu to run it on the CPU anyway (tests)."
                )
            return torch.device("cuda")
        try:
            return torch.device(device)
        except RuntimeError:
            raise OptionError(f"sam3: device={device!r} is not a device torch knows (auto, cuda, cuda:1, cpu)") from None

    def _on(self, device) -> contextlib.AbstractContextManager:
        return cuda_on_cpu() if device.type == "cpu" else contextlib.nullcontext()

    def _tracker(self, device):
        checkpoint = self.options["checkpoint"]
        if checkpoint is None and not self.options["random_init"]:
            raise CheckpointError(
                f"sam3: no checkpoint configured; set models.<name>.options.checkpoint to {CHECKPOINT_NAME} "
                f"(facebook/sam3 on Hugging Face: {WEIGHTS_TABLE})."
            )
        return build_tracker(checkpoint, bool(self.options["memory_selection"])).to(device)

    def _state(self, tracker, files: list[Path], height: int, width: int):
        """The tracker's inference state: frames decoded when asked for (bounded), or SAM 3's ``init_state`` on
        the video's folder (every frame decoded at once)."""
        from sam3.model.utils.sam2_utils import _load_img_as_tensor

        if self.options["bounded_memory"]:
            state = tracker.init_state(video_height=height, video_width=width, num_frames=len(files))
            state["images"] = LazyFrames(files, tracker.image_size, state["storage_device"], load=_load_img_as_tensor)
            return state
        state = tracker.init_state(video_path=str(files[0].parent))
        if state["num_frames"] != len(files):
            raise RuntimeError(f"{files[0].parent}: sam3 found {state['num_frames']} frames, expected {len(files)}")
        return state

    def _forget(self, tracker, state, frame_idx: int) -> None:
        """Bounded memory: drop the non-conditioning outputs no later frame can read (:func:`reachable_frames`),
        from the consolidated outputs and from each object's slice of them."""
        outputs = state["output_dict"]["non_cond_frame_outputs"]
        keep = reachable_frames(tracker, outputs, frame_idx)
        for held in (outputs, *(per_obj["non_cond_frame_outputs"] for per_obj in state["output_dict_per_obj"].values())):
            for old in [t for t in held if t not in keep]:
                del held[old]

    def segment_video(self, files: Sequence[Path], labels: np.ndarray,
                      later: Mapping[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """All objects added on frame 0 and propagated together; with objects first annotated later, each
        object tracked on its own from its first mask (:meth:`_segment_per_object`)."""
        _sam3_builder()  # this Python has SAM 3, else the error saying where it runs
        device = self._device()
        with self._on(device):
            if later:
                yield from self._segment_per_object([Path(f) for f in files], labels, later, device)
            else:
                yield from self._segment_together([Path(f) for f in files], labels, device)

    def _segment_together(self, files: list[Path], labels: np.ndarray, device) -> Iterator[np.ndarray]:
        import torch

        self.objects = object_ids(labels)
        tracker = self.loaded("tracker", lambda: self._tracker(device))
        height, width = labels.shape
        with torch.inference_mode():
            state = self._state(tracker, files, height, width)
            for obj in self.objects:
                tracker.add_new_mask(state, frame_idx=0, obj_id=obj, mask=torch.from_numpy(labels == obj))
            ids = np.asarray(self.objects, dtype=np.uint8)
            for frame_idx, obj_ids, _, logits, obj_scores in tracker.propagate_in_video(
                    state, start_frame_idx=0, max_frame_num_to_track=None, reverse=False, tqdm_disable=True,
                    propagate_preflight=True):
                if frame_idx == 0:
                    continue
                order = np.asarray([self.objects.index(int(o)) for o in obj_ids])
                chances = torch.sigmoid(obj_scores).float().flatten()  # in the tracker's dtype, as SAM 3 does
                keeps = self._keeps(tracker, logits[:, 0].float(), chances)
                owner = keeps.int().argmax(dim=0).cpu().numpy()
                out = np.where(keeps.any(dim=0).cpu().numpy(), ids[order][owner], 0).astype(np.uint8)
                self.scores = {int(o): float(chances[i]) for i, o in enumerate(obj_ids)}
                if self.options["probabilities"]:
                    self.probabilities = self._probabilities(logits[:, 0].float(), keeps, obj_ids)
                if self.options["bounded_memory"]:
                    self._forget(tracker, state, frame_idx)
                yield out

    @staticmethod
    def _keeps(tracker, logits, chances):
        """Each object's mask (logits above 0) after SAM 3's object-wise non-overlap rule, as its video inference
        applies it to its output (``background_value=0``)."""
        masks = logits > 0
        if masks.shape[0] == 1:
            return masks
        return tracker._apply_object_wise_non_overlapping_constraints(
            masks.unsqueeze(1), chances.unsqueeze(1).to(masks.device), background_value=0).squeeze(1) > 0

    @staticmethod
    def _probabilities(logits, keeps, obj_ids) -> dict[int, np.ndarray]:
        """Each object's sigmoid of its logits, with the pixels it lost to another object clamped below 0.5 as
        SAM 3's non-overlap rule clamps them (at most -10)."""
        import torch

        kept = torch.where(keeps, logits, torch.clamp(logits, max=-10.0))
        chances = torch.sigmoid(kept).cpu().numpy()
        return {int(o): chances[i] for i, o in enumerate(obj_ids)}

    def _segment_per_object(self, files: list[Path], labels: np.ndarray, later: Mapping[int, np.ndarray],
                            device) -> Iterator[np.ndarray]:
        """Each object tracked alone from the frame of its first mask (state reset, mask added, propagated
        forward); per frame, the object-wise rule over the objects present: among the objects whose mask covers
        a pixel, the one of the highest tracker score keeps it (ties to the lower id).  The running best score
        and its object are kept per frame on disk, not every object's masks."""
        import torch

        first_masks = first_annotations(labels, later)
        self.objects = tuple(sorted(first_masks))
        height, width = labels.shape
        tracker = self.loaded("tracker", lambda: self._tracker(device))
        scores: dict[int, dict[int, float]] = {}
        with torch.inference_mode(), tempfile.TemporaryDirectory() as work:
            state = self._state(tracker, files, height, width)
            top = np.lib.format.open_memmap(os.path.join(work, "top.npy"), "w+", np.float32, (len(files), height, width))
            best = np.lib.format.open_memmap(os.path.join(work, "best.npy"), "w+", np.uint8, (len(files), height, width))
            top[:] = -1.0
            for obj in self.objects:
                start, mask = first_masks[obj]
                tracker.clear_all_points_in_video(state)
                tracker.add_new_mask(state, frame_idx=start, obj_id=obj, mask=torch.from_numpy(mask))
                for frame_idx, _, _, logits, obj_scores in tracker.propagate_in_video(
                        state, start_frame_idx=start, max_frame_num_to_track=None, reverse=False, tqdm_disable=True,
                        propagate_preflight=True):
                    chance = float(torch.sigmoid(obj_scores).flatten()[0])
                    covered = (logits[0, 0] > 0).cpu().numpy()
                    higher = covered & (chance > top[frame_idx])
                    top[frame_idx][higher] = chance
                    best[frame_idx][higher] = obj
                    scores.setdefault(frame_idx, {})[obj] = chance
                    if self.options["bounded_memory"]:
                        self._forget(tracker, state, frame_idx)
            for frame_idx in range(1, len(files)):
                self.scores = scores.get(frame_idx, {})
                yield np.where(top[frame_idx] >= 0, best[frame_idx], 0).astype(np.uint8)
