"""Reliability-weighted fusion of the models' masks (``strategy: fuse``, beyond STSeg).

STSeg keeps one model per video.  The fusion keeps that model's masks as the
**anchor** (the per-video choice of :mod:`stseg.selection`, the dataset prior
included) and lets the voting models (``pgmr.models``) and the anchor vote on
each of its regions, each vote weighted by the model's **reliability**.  Real
models fail differently: a per-frame model (OSVOS, a SAM-style tracker that
jumped) adds a far-away *distractor* region that no other model sees; a
propagation model (DINO, optical flow) *bleeds* into the background next to the
object, and two propagation models bleed alike.  The fusion removes the regions
the weighted majority does not see and, by default, never adds what only the
others claim, so the anchor's sharp outline is kept and a bleed shared by two
models cannot enter.

For frame ``t`` and object ``k`` (``q_mk(p)``: model ``m``'s probability of
``k`` at pixel ``p`` when it keeps probabilities, else ``[L_m(p) = k]``):

0. **Voters**: the voting models of the anchor's **tier**.  The weight-free
   built-in models (``copy``, ``flow``, ``global``, ``appearance``: a model's
   ``baseline``) are one tier and every other model (trained models, masks
   brought as ``precomputed``) the other; with ``pgmr.baselines: fallback`` (the
   default) a trained anchor is judged by the trained voters only, and where the
   anchor has no voter of its tier nothing is changed.  Built-in models fail
   alike (they propagate the same first mask, follow the same distractor) and
   would outvote one good model by their number.
1. **Reliability** ``r_m`` of the anchor and of each voter: its pseudo-label
   J&F on this video, the mean over its objects (``pgmr.fuse_reliability:
   video``); its mean video-level selection score over the dataset
   (``prior``, ``prior.csv``: :func:`stseg.selection.dataset_prior`); or 1
   (``uniform``).
2. **Support** ``S_k(p) = Σ_m r_m · max_{|d| ≤ R} q_mk(p + d) / Σ_m r_m`` over
   the voters: the weighted share of them that see ``k`` within ``R`` pixels of
   ``p`` (``R = pgmr.fuse_tolerance ×`` the frame's diagonal, 16 px at 854×480
   with the default 0.016, twice J&F's boundary tolerance: outlines that differ
   by a few pixels still support each other).
3. **Regions**: the anchor's mask of ``k`` is cut into 8-connected regions
   ``c``.  A region's **vote** is the weighted majority of every model, the
   anchor voting for its own regions: ``V_c = (r_a + W · mean_c S_k) / (r_a +
   W)``, with ``r_a`` the anchor's reliability and ``W = Σ r_m`` the voters'.
   A region the weighted majority sees as *some* object (``S`` of the voters'
   foreground, the same formula) counts as seen: the voters disagree about which
   object it is, not that it is one, and it is left to the anchor.
   When at least one region's vote reaches ``pgmr.fuse_support`` (0.5: a
   majority), every region whose vote is below it is removed, except the region
   with the largest summed vote (the object is never lost by the fusion).
   Where no region reaches it the voters see the object nowhere the anchor does:
   no evidence against any region, nothing is removed.
4. **Additions** (``pgmr.fuse_add: true``; off by default, measured in
   docs/method.md): a pixel the anchor leaves as background is given ``k`` when
   the weighted majority, the anchor voting against, sees ``k`` there
   (``W · Q_k(p) / (r_a + W) ≥ fuse_support`` with ``Q_k`` the voters' weighted
   ``q_mk(p)`` without reach) and the connected piece of such pixels touches the
   anchor's own mask of ``k`` within ``R``: a part of the object the anchor
   missed, never a region of its own far away.

An anchor at least as reliable as all its voters together keeps every region;
weak voters cannot outvote a strong anchor, two strong models can.

``pgmr.fuse_level: pixel`` is the plain pixel vote instead (every voter and the
anchor: ``V_k(p) = Σ_m r_m q_mk(p) / Σ_m r_m``, the largest ``V_k`` if it is at
least 0.5, else background).  It was measured and is not the default: a
propagation model's coarse outline then moves the anchor's, and two models
bleeding alike outvote it (docs/method.md, "The fusion").

Frame 0 is the annotation.  The functions here work on one frame;
:func:`fuse_video` streams a video's frames.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from .masks import read_label_map
from .morphology import dilate
from .probabilities import read_probabilities

__all__ = ["FUSE_LEVELS", "RELIABILITIES", "FusionChanges", "VoterFrame", "fuse_frame", "fuse_video", "reliabilities",
           "support_radius"]

FUSE_LEVELS = ("region", "pixel")
RELIABILITIES = ("video", "prior", "uniform")


@dataclass(frozen=True)
class VoterFrame:
    """One voter's answer on one frame: its label map and, when it keeps them, its per-object probabilities
    (object id -> ``float32`` map in [0, 1])."""

    labels: np.ndarray
    probabilities: Mapping[int, np.ndarray] | None = None

    def vote(self, obj: int, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """``q_k`` on the window: the probability of ``obj``, or 1 where the label map says ``obj``."""
        if self.probabilities is not None and obj in self.probabilities:
            return self.probabilities[obj][rows, cols].astype(np.float32, copy=False)
        return (self.labels[rows, cols] == obj).astype(np.float32)

    def foreground(self) -> "VoterFrame":
        """The voter's answer to "is this pixel some object?" (as object 1 of a label map)."""
        return VoterFrame((self.labels > 0).view(np.uint8))


class FusionChanges:
    """What the fusion did to the anchor's masks over a video, per object, in pixels summed over the frames: the
    anchor's pixels of the object it kept, those it removed (or gave another object), and those it added."""

    def __init__(self, objects: Sequence[int]) -> None:
        self.counts = {int(obj): [0, 0, 0] for obj in objects}

    def count(self, anchor: np.ndarray, fused: np.ndarray) -> None:
        for obj, counts in self.counts.items():
            mine, now = anchor == obj, fused == obj
            kept = int(np.count_nonzero(mine & now))
            counts[0] += kept
            counts[1] += int(np.count_nonzero(mine)) - kept
            counts[2] += int(np.count_nonzero(now)) - kept

    def of(self, obj: int) -> tuple[int, int, int]:
        """(kept, removed, added) of one object."""
        kept, removed, added = self.counts[int(obj)]
        return kept, removed, added


def reliabilities(models: Sequence[str], prior: pd.DataFrame | None, mode: str,
                  video_scores: Mapping[str, float] | None = None) -> dict[str, float]:
    """``r_m`` of each model (module docstring): its pseudo-label J&F on the video (``video_scores``, model -> mean
    over its objects), its dataset-prior score (``prior.csv``'s ``score``), at least 0; or 1 for every model with
    ``mode="uniform"``."""
    names = list(dict.fromkeys(models))
    if mode not in RELIABILITIES:
        raise ValueError(f"pgmr.fuse_reliability must be one of {RELIABILITIES}, not {mode!r}")
    if mode == "uniform":
        return {m: 1.0 for m in names}
    if mode == "video":
        if video_scores is None:
            raise ValueError("pgmr.fuse_reliability 'video' needs the video's pseudo-label scores")
        scores = dict(video_scores)
    else:
        if prior is None:
            raise ValueError("pgmr.fuse_reliability 'prior' needs the dataset prior (prior.csv)")
        scores = dict(zip(prior["model"], prior["score"]))
    missing = [m for m in names if m not in scores]
    if missing:
        raise ValueError(f"no {mode} reliability for model(s) {missing}")
    return {m: max(0.0, float(scores[m])) if math.isfinite(float(scores[m])) else 0.0 for m in names}


def support_radius(height: int, width: int, tolerance: float) -> int:
    """``R`` in pixels: ``tolerance`` times the frame's diagonal, rounded up."""
    return int(math.ceil(tolerance * math.hypot(height, width)))


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def _grown_vote(voter: VoterFrame, obj: int, rows: slice, cols: slice, kernel: np.ndarray) -> np.ndarray:
    """``max_{|d| <= R} q_k(p + d)`` on the window (the window already holds every pixel within R of it)."""
    if voter.probabilities is not None and obj in voter.probabilities:
        return cv2.dilate(voter.vote(obj, rows, cols), kernel)
    return dilate((voter.labels[rows, cols] == obj).view(np.uint8), kernel).astype(np.float32)


def support(voters: Sequence[VoterFrame], weights: Sequence[float], obj: int, rows: slice, cols: slice,
            radius: int) -> np.ndarray:
    """``S_k`` on a window of the frame (module docstring); 0 where no voter has weight."""
    height, width = voters[0].labels.shape
    # the window grown by R, so that the dilation inside it sees every pixel it needs
    top, bottom = max(0, rows.start - radius), min(height, rows.stop + radius)
    left, right = max(0, cols.start - radius), min(width, cols.stop + radius)
    inner = slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left)
    kernel = _disk(radius)
    total = float(sum(weights))
    out = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
    if total <= 0:
        return out
    for voter, weight in zip(voters, weights):
        if weight > 0:
            out += np.float32(weight) * _grown_vote(voter, obj, slice(top, bottom), slice(left, right), kernel)[inner]
    return out / np.float32(total)


def _region_means(values: np.ndarray, regions: np.ndarray, area: np.ndarray) -> np.ndarray:
    return np.bincount(regions.ravel(), weights=values.ravel(), minlength=len(area)) / np.maximum(area, 1)


def _removals(anchor: np.ndarray, anchor_weight: float, voters: Sequence[VoterFrame], weights: Sequence[float], obj: int,
              threshold: float, radius: int, out: np.ndarray) -> None:
    """Step 3 of the module docstring for one object, written into ``out``."""
    mask = (anchor == obj).view(np.uint8)
    x, y, w, h = cv2.boundingRect(mask)
    if not w or not h:
        return
    rows, cols = slice(y, y + h), slice(x, x + w)
    count, regions = cv2.connectedComponents(mask[rows, cols], connectivity=8)
    total = float(sum(weights))
    if count <= 2 or total + anchor_weight <= 0:  # one region (or none) is kept
        return

    def vote(support_map: np.ndarray) -> np.ndarray:  # V: the anchor votes for its own regions
        return (support_map * np.float32(total) + np.float32(anchor_weight)) / np.float32(total + anchor_weight)

    area = np.bincount(regions.ravel(), minlength=count)
    score = vote(support(voters, weights, obj, rows, cols, radius))
    summed = np.bincount(regions.ravel(), weights=score.ravel(), minlength=count)
    mean = summed / np.maximum(area, 1)
    if mean[1:].max() < threshold - 1e-6:  # the majority sees the object near no region: no evidence
        return
    kept = 1 + int(np.argmax(summed[1:]))
    removed = [r for r in range(1, count) if r != kept and mean[r] < threshold - 1e-6]
    if not removed:
        return
    seen = _region_means(vote(support([v.foreground() for v in voters], weights, 1, rows, cols, radius)), regions, area)
    removed = [r for r in removed if seen[r] < threshold - 1e-6]  # seen as another object: left to the anchor
    if removed:
        window = out[rows, cols]
        window[np.isin(regions, removed)] = 0


def _additions(anchor_weight: float, voters: Sequence[VoterFrame], weights: Sequence[float], obj: int, threshold: float,
               radius: int, out: np.ndarray) -> None:
    """Step 4 of the module docstring for one object, written into ``out`` (the frame after the removals)."""
    total = float(sum(weights))
    own = (out == obj).view(np.uint8)
    if total <= 0 or not own.any():
        return
    votes = np.zeros(out.shape, np.float32)
    for voter, weight in zip(voters, weights):
        if weight > 0:
            votes += np.float32(weight) * voter.vote(obj)
    candidates = ((votes / np.float32(total + anchor_weight) >= np.float32(threshold) - np.float32(1e-6))
                  & (out == 0)).view(np.uint8)
    if not candidates.any():
        return
    _, pieces = cv2.connectedComponents(candidates, connectivity=8)
    near = dilate(own, _disk(radius)) > 0
    touching = np.unique(pieces[near & (candidates > 0)])
    touching = touching[touching > 0]
    if touching.size:
        out[np.isin(pieces, touching)] = obj


def fuse_regions(anchor: np.ndarray, anchor_weight: float, voters: Sequence[VoterFrame], weights: Sequence[float],
                 objects: Sequence[int], threshold: float, radius: int, add: bool = False) -> np.ndarray:
    """The anchor's label map without the regions the weighted majority does not see (module docstring, step 3)
    and, with ``add``, with the parts it missed that the majority sees (step 4); ``voters`` and ``weights``: the
    voters other than the anchor."""
    out = anchor.copy()
    if not voters:
        return out
    for obj in objects:
        _removals(anchor, anchor_weight, voters, weights, obj, threshold, radius, out)
    if add:
        for obj in objects:
            _additions(anchor_weight, voters, weights, obj, threshold, radius, out)
    return out


def fuse_pixels(voters: Sequence[VoterFrame], weights: Sequence[float], objects: Sequence[int]) -> np.ndarray:
    """The pixel vote (``fuse_level: pixel``): the object with the largest ``V_k`` where it is at least 0.5."""
    shape = voters[0].labels.shape
    total = np.float32(sum(weights))
    best = np.zeros(shape, np.float32)
    out = np.zeros(shape, np.uint8)
    if total <= 0:
        return out
    for obj in objects:
        vote = np.zeros(shape, np.float32)
        for voter, weight in zip(voters, weights):
            if weight > 0:
                vote += np.float32(weight) * voter.vote(obj)
        vote /= total
        better = vote > best
        best[better] = vote[better]
        out[better] = obj
    out[best < np.float32(0.5) - np.float32(1e-6)] = 0
    return out


def fuse_frame(anchor: str, frames: Mapping[str, VoterFrame], weights: Mapping[str, float], objects: Sequence[int],
               level: str, threshold: float, radius: int, add: bool = False) -> np.ndarray:
    """One frame's fusion: ``frames`` holds the anchor's answer and every voting model's; ``weights``: ``r_m`` of
    the anchor and of each voting model (the anchor need not be a voter)."""
    if level not in FUSE_LEVELS:
        raise ValueError(f"pgmr.fuse_level must be one of {FUSE_LEVELS}, not {level!r}")
    others = [m for m in weights if m != anchor]
    if level == "region":
        return fuse_regions(frames[anchor].labels, weights[anchor], [frames[m] for m in others],
                            [weights[m] for m in others], objects, threshold, radius, add)
    return fuse_pixels([frames[anchor], *(frames[m] for m in others)], [weights[anchor], *(weights[m] for m in others)],
                       objects)


def read_voter(folder: Path, frame: str) -> VoterFrame:
    """One voter's label map of a frame and, when its folder keeps them, its probabilities (:mod:`stseg.probabilities`)."""
    labels = read_label_map(folder / f"{frame}.png", allow_greyscale=True)
    probs = folder / "probs" / f"{frame}.npz"
    return VoterFrame(labels, read_probabilities(probs, labels.shape) if probs.is_file() else None)


def fuse_video(anchor: str, mask_dirs: Mapping[str, str | os.PathLike[str]], weights: Mapping[str, float],
               objects: Sequence[int], frames: Sequence[str], level: str, threshold: float,
               tolerance: float, add: bool = False, changes: FusionChanges | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Every frame's fusion, streamed; frame 0 is the anchor's (the annotation).  ``weights``: ``r_m`` of the anchor
    and of every voting model (the anchor alone: its masks unchanged).  ``changes``: counts what the fusion did."""
    folders = {m: Path(d) for m, d in mask_dirs.items()}
    needed = [anchor, *(m for m in weights if m != anchor)]
    first = read_label_map(folders[anchor] / f"{frames[0]}.png", allow_greyscale=True)
    yield frames[0], first
    radius = support_radius(first.shape[0], first.shape[1], tolerance)
    for frame in frames[1:]:
        voters = {m: read_voter(folders[m], frame) for m in needed}
        fused = fuse_frame(anchor, voters, weights, objects, level, threshold, radius, add)
        if changes is not None:
            changes.count(voters[anchor].labels, fused)
        yield frame, fused
