"""``sam2``: SAM 2.1 video predictor through the ``sam2`` package, in memory that does not grow with the video.

Every object of the first-frame annotation is added as a mask prompt on frame 0
(``add_new_mask``) and the masks are propagated with ``propagate_in_video``;
overlaps between objects go to the object with the highest mask logit (ties to
the lower id), and each object's presence score (sigmoid of SAM2's
``object_score_logits``) is kept per frame.

**Bounded memory** (``bounded_memory: true``, the default).  The unmodified
predictor decodes every frame of the video into memory at ``init_state`` and
keeps every frame's memory features to the end (upstream issue
facebookresearch/sam2#196), although attention reads only the conditioning
frames, the last ``num_maskmem - 1`` frames' memories and the object pointers
of the last ``max_obj_ptrs_in_encoder - 1`` frames.  Here the predictor's state
is created on the first frame alone, its frame sequence is replaced by one that
decodes a frame when the model asks for it (with SAM2's own loader, so the
tensors are bit-identical), and after each frame the non-conditioning outputs
that attention can no longer reach are dropped.  The masks are identical to the
unmodified predictor's (tested); memory stays flat in the video's length
(``benchmarks/bench_sam2_memory.py``).

Options: ``size`` (tiny, small, base_plus, large), ``checkpoint`` (a SAM 2.1
checkpoint; required unless ``random_init``), ``device`` (auto: CUDA when
present), ``image_size`` (1024 as released; smaller for tests), ``bfloat16``
(autocast on CUDA), ``bounded_memory``, ``apply_postprocessing`` (False, as
SAM2's ``tools/vos_inference.py`` evaluates; True: the package builder's default
post-processing), ``random_init`` (random weights: tests and benchmarks only),
``probabilities`` (keep each object's probability, the sigmoid of the mask
logits SAM2's ``propagate_in_video`` gives at the video's size, beside the masks:
:mod:`stseg.probabilities`; not for videos with objects first annotated later).

**Fidelity.**  With its defaults the job writes exactly the masks of SAM2's own
``tools/vos_inference.py`` at that script's defaults on frames 1, 2, ... (tested
on a real DAVIS video longer than the memory window, one thread); frame 0 is the
annotation itself, where the script writes the model's reconstruction of it.  Checkpoints are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from ..errors import WEIGHTS_TABLE, StsegError
from ..masks import object_ids
from .base import Limit, OptionError, Propagator
from .device import autocast, resolve_device

__all__ = ["SIZES", "CHECKPOINT_NAMES", "SAM2Propagator", "build_predictor", "config_overrides", "LazyFrames"]

SIZES = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
CHECKPOINT_NAMES = {
    "tiny": "sam2.1_hiera_tiny.pt",
    "small": "sam2.1_hiera_small.pt",
    "base_plus": "sam2.1_hiera_base_plus.pt",
    "large": "sam2.1_hiera_large.pt",
}


class CheckpointError(StsegError, FileNotFoundError):
    """A SAM2 checkpoint that is missing or not configured."""


def config_overrides(image_size: int) -> list[str]:
    """Hydra overrides for an input size other than 1024 (the RoPE feature grid follows it)."""
    if image_size == 1024:
        return []
    if image_size % 16:
        raise OptionError(f"sam2: image_size={image_size} must be a multiple of 16")
    grid = image_size // 16
    return [
        f"++model.image_size={image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{grid},{grid}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{grid},{grid}]",
    ]


def build_predictor(size: str, checkpoint: str | None, device: str, image_size: int = 1024,
                    apply_postprocessing: bool = False):
    """The upstream ``SAM2VideoPredictor`` built as SAM2's ``tools/vos_inference.py`` builds it
    (random weights when ``checkpoint`` is None).

    Like that script (the source of SAM2's published VOS numbers) it passes
    ``apply_postprocessing=False`` (the package's builder defaults to True: dynamic
    multimask fallback, binarised prompt masks in the memory encoder, hole filling)
    and ``++model.non_overlap_masks=true``.
    """
    from sam2.build_sam import build_sam2_video_predictor

    if size not in SIZES:
        raise OptionError(f"sam2: size={size!r} must be one of {sorted(SIZES)}")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise CheckpointError(
            f"{checkpoint}: SAM2 checkpoint not found. Model size {size!r} expects a SAM 2.1 checkpoint such as "
            f"{CHECKPOINT_NAMES[size]} ({WEIGHTS_TABLE}) or one written by the fine-tune rule; "
            "set models.<name>.options.checkpoint in the config to its path."
        )
    if checkpoint is not None:
        import torch

        try:  # (memory-mapped: the builder reads it again) a file that is not one is named, not a pickle traceback
            torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        except Exception as error:  # not a checkpoint, truncated, or a pickle with code in it
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise CheckpointError(
                f"{checkpoint}: not a loadable SAM 2.1 checkpoint ({type(error).__name__}: {first}). Download it again "
                f"({WEIGHTS_TABLE}) or fix models.<name>.options.checkpoint."
            ) from error
    return build_sam2_video_predictor(
        SIZES[size], ckpt_path=checkpoint, device=device, apply_postprocessing=apply_postprocessing,
        hydra_overrides_extra=["++model.non_overlap_masks=true", *config_overrides(image_size)],
    )


class LazyFrames:
    """The predictor's ``images`` sequence, decoding a frame only when the model asks for it.

    Uses the package's own ``_load_img_as_tensor`` (SAM2's, or ``load`` for a fork such as SAM 3's) and the
    same normalisation as its ``load_video_frames``, so each tensor equals the eagerly loaded one.
    """

    def __init__(self, files: Sequence[Path], image_size: int, device, load=None) -> None:
        import torch

        if load is None:
            from sam2.utils.misc import _load_img_as_tensor

            load = _load_img_as_tensor
        self.load = load
        self.files = list(files)
        self.image_size = image_size
        self.device = device
        self.mean = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
        self.std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
        self.loads = 0

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        import torch

        image, _, _ = self.load(str(self.files[index]), self.image_size)
        self.loads += 1
        image = image.to(torch.float32)  # as load_video_frames stores it, before normalising
        return ((image - self.mean) / self.std).to(self.device)


def memory_window(model) -> int:
    """How many past non-conditioning frames attention can still read (memories and object pointers)."""
    stride = max(1, int(getattr(model, "memory_temporal_stride_for_eval", 1)))
    memories = (model.num_maskmem - 1) * stride + 2 if model.num_maskmem > 0 else 0
    pointers = int(getattr(model, "max_obj_ptrs_in_encoder", 0)) if getattr(model, "use_obj_ptrs_in_encoder", False) else 0
    return max(memories, pointers, 1)


def first_annotations(labels: np.ndarray, later: Mapping[int, np.ndarray]) -> dict[int, tuple[int, np.ndarray]]:
    """Object id -> (frame index of its first mask, that mask): frame 0's objects, then those first annotated later."""
    first = {obj: (0, labels == obj) for obj in object_ids(labels)}
    for index in sorted(later):
        for obj in object_ids(later[index]):
            first.setdefault(obj, (index, later[index] == obj))
    return first


#: parameters of the SAM 2.1 checkpoints (millions), for the memory estimate
PARAMETERS_M = {"tiny": 38.9, "small": 46.0, "base_plus": 80.8, "large": 224.4}


class SAM2Propagator(Propagator):
    defaults = {
        "size": "base_plus",
        "checkpoint": None,
        "device": "auto",
        "image_size": 1024,
        "bfloat16": True,
        "bounded_memory": True,
        "apply_postprocessing": False,
        "random_init": False,
        "probabilities": False,
    }
    limits = {"size": Limit(choices=tuple(SIZES)), "image_size": Limit(64, 4096)}

    def memory_estimate_mb(self, frames: int, height: int, width: int) -> float | None:
        """Weights (float32) plus the decoded frames the predictor holds: every frame when
        ``bounded_memory`` is off (the unmodified predictor preloads the video), else the window."""
        size = int(self.options["image_size"])
        per_frame = 3 * size * size * 4 / 2**20
        held = frames if not self.options["bounded_memory"] else min(frames, 16)
        return PARAMETERS_M.get(self.options["size"], 224.4) * 4 + held * per_frame

    def _predictor(self):
        checkpoint = self.options["checkpoint"]
        if checkpoint is None and not self.options["random_init"]:
            raise CheckpointError(
                f"sam2: no checkpoint configured for model size {self.options['size']!r}; set "
                f"models.<name>.options.checkpoint to a SAM 2.1 checkpoint ({CHECKPOINT_NAMES.get(self.options['size'], '?')}: "
                f"{WEIGHTS_TABLE}) or a fine-tuned one."
            )
        return build_predictor(self.options["size"], checkpoint, str(resolve_device(self.options["device"])),
                               int(self.options["image_size"]), bool(self.options["apply_postprocessing"]))

    def _state(self, predictor, files: list[Path], first_only: str):
        if self.options["bounded_memory"]:
            os.symlink(files[0].resolve(), Path(first_only) / f"0{files[0].suffix.lower()}")
            state = predictor.init_state(first_only)
            state["images"] = LazyFrames(files, predictor.image_size, predictor.device)
            state["num_frames"] = len(files)
            return state
        state = predictor.init_state(str(files[0].parent))
        if state["num_frames"] != len(files):
            raise RuntimeError(f"{files[0].parent}: sam2 found {state['num_frames']} frames, expected {len(files)}")
        return state

    def _forget(self, state, obj_idx: int, frame_idx: int, window: int) -> None:
        """Bounded memory: drop the outputs that have left the memory window.

        SAM 2.1's predictor keeps them per object (``output_dict_per_obj``, ``frames_tracked_per_obj``); SAM 2.0's
        layout (EdgeTAM's fork) also in the consolidated ``output_dict``, which is what its memory attention
        reads."""
        outputs = state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
        for old in [t for t in outputs if t <= frame_idx - window]:
            del outputs[old]
        if "frames_tracked_per_obj" not in state:  # SAM 2.0 layout
            consolidated = state["output_dict"]["non_cond_frame_outputs"]
            for old in [t for t in consolidated if t <= frame_idx - window]:
                del consolidated[old]
            return
        prompted = state["output_dict_per_obj"][obj_idx]["cond_frame_outputs"]
        tracked = state["frames_tracked_per_obj"][obj_idx]
        for old in [t for t in tracked if t not in prompted and t <= frame_idx - window]:
            del tracked[old]

    def segment_video(self, files: Sequence[Path], labels: np.ndarray,
                      later: Mapping[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """All objects propagated together from frame 0, as ``tools/vos_inference.py`` does; a video with
        objects first annotated later is segmented as that script's ``--track_object_appearing_later_in_video``
        does it (:meth:`_segment_per_object`)."""
        if later:
            yield from self._segment_per_object([Path(f) for f in files], labels, later)
            return
        import torch

        files = [Path(f) for f in files]
        self.objects = object_ids(labels)
        predictor = self.loaded("predictor", self._predictor)
        precision = autocast(predictor.device, "bfloat16", bool(self.options["bfloat16"]))
        with torch.inference_mode(), precision, tempfile.TemporaryDirectory() as first_only:
            state = self._state(predictor, files, first_only)
            for obj in self.objects:
                predictor.add_new_mask(state, frame_idx=0, obj_id=obj, mask=torch.from_numpy(labels == obj))
            window = memory_window(predictor)
            ids = np.asarray(self.objects, dtype=np.uint8)
            for frame_idx, obj_ids, logits in predictor.propagate_in_video(state):
                if frame_idx == 0:
                    continue
                logits = logits[:, 0].float()
                best = torch.argmax(logits, dim=0)
                top = torch.gather(logits, 0, best[None])[0]
                order = [self.objects.index(int(o)) for o in obj_ids]
                mapped = ids[np.asarray(order)][best.cpu().numpy()]
                out = np.where(top.cpu().numpy() > 0, mapped, 0).astype(np.uint8)
                if self.options["probabilities"]:  # each object's sigmoid of its (non-overlapping) mask logits
                    chances = torch.sigmoid(logits).cpu().numpy()
                    self.probabilities = {int(o): chances[i] for i, o in enumerate(obj_ids)}
                self.scores = {}
                for obj_idx, obj in enumerate(obj_ids):
                    outputs = state["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"]
                    score = outputs[frame_idx].get("object_score_logits")
                    if score is not None:
                        self.scores[int(obj)] = float(torch.sigmoid(score.float()).flatten()[0])
                    if self.options["bounded_memory"]:
                        self._forget(state, obj_idx, frame_idx, window)
                yield out

    def _segment_per_object(self, files: list[Path], labels: np.ndarray,
                            later: Mapping[int, np.ndarray]) -> Iterator[np.ndarray]:
        """Each object tracked on its own from the frame of its first mask (``vos_separate_inference_per_object``):
        the state reset, its mask added, propagated forward; then, per frame, each pixel goes to the object of
        the highest logit when that logit is positive (SAM2's non-overlap constraint), the objects in id order
        and absent before their first mask.  Instead of holding every object's logits for every frame, the
        running best logit and its object are kept per frame (on disk, in a temporary folder)."""
        import torch

        first_masks = first_annotations(labels, later)
        self.objects = tuple(sorted(first_masks))
        height, width = labels.shape
        predictor = self.loaded("predictor", self._predictor)
        scores: dict[int, dict[int, float]] = {}
        precision = autocast(predictor.device, "bfloat16", bool(self.options["bfloat16"]))
        with torch.inference_mode(), precision, tempfile.TemporaryDirectory() as work:
            first_only = Path(work) / "first"
            first_only.mkdir()
            state = self._state(predictor, files, str(first_only))
            window = memory_window(predictor)
            top = np.lib.format.open_memmap(Path(work) / "top.npy", "w+", np.float32, (len(files), height, width))
            best = np.lib.format.open_memmap(Path(work) / "best.npy", "w+", np.uint8, (len(files), height, width))
            top[:] = -np.inf
            for obj in self.objects:
                start, mask = first_masks[obj]
                predictor.reset_state(state)
                predictor.add_new_mask(state, frame_idx=start, obj_id=obj, mask=torch.from_numpy(mask))
                for frame_idx, _, logits in predictor.propagate_in_video(state, start_frame_idx=start, reverse=False):
                    logit = logits[0, 0].float().cpu().numpy()
                    higher = logit > top[frame_idx]
                    top[frame_idx][higher] = logit[higher]
                    best[frame_idx][higher] = obj
                    outputs = state["output_dict_per_obj"][0]
                    output = outputs["non_cond_frame_outputs"].get(frame_idx) or outputs["cond_frame_outputs"].get(frame_idx)
                    score = None if output is None else output.get("object_score_logits")
                    if score is not None:
                        scores.setdefault(frame_idx, {})[obj] = float(torch.sigmoid(score.float()).flatten()[0])
                    if self.options["bounded_memory"]:
                        self._forget(state, 0, frame_idx, window)
            for frame_idx in range(1, len(files)):
                self.scores = scores.get(frame_idx, {})
                yield np.where(top[frame_idx] > 0, best[frame_idx], 0).astype(np.uint8)
