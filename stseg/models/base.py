"""The interface every in-process VOS model implements.

:class:`Propagator` is the one protocol: :meth:`Propagator.segment_video`
receives a video's frame files and its first-frame annotation and yields the
label map of every later frame.  Models that read the files themselves (SAM2,
TMO, precomputed masks) implement it directly.

:class:`StreamingPropagator` is the base for per-frame models: its
:meth:`~StreamingPropagator.start` receives the first frame and its annotation,
then :meth:`~StreamingPropagator.step` each later frame in order.  Nothing
forces such a model to keep the whole video in memory, so long videos run in
constant memory when the model allows it.

Frames are ``uint8`` BGR arrays of shape ``(H, W, 3)`` (OpenCV's order); label
maps are ``uint8`` arrays of shape ``(H, W)`` whose value is the object id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

from ..errors import StsegError
from ..masks import object_ids

__all__ = ["Propagator", "StreamingPropagator", "OptionError"]

T = TypeVar("T")


class OptionError(StsegError, ValueError):
    """A model option that is unknown or out of range; the message names it."""


@dataclass(frozen=True)
class Limit:
    """The values an option takes: a range (``minimum``/``maximum``, inclusive), or one of ``choices``."""

    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (None: it is)."""
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {', '.join(map(repr, self.choices))}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if self.minimum is not None and value < self.minimum:
            return f"{value!r} is below its minimum {self.minimum!r}"
        if self.maximum is not None and value > self.maximum:
            return f"{value!r} is above its maximum {self.maximum!r}"
        return None

    def __str__(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        low = "" if self.minimum is None else f"{self.minimum} <= "
        high = "" if self.maximum is None else f" <= {self.maximum}"
        return f"{low}value{high}"


class Propagator(ABC):
    """Semi-supervised VOS model: first-frame masks in, one label map per later frame out."""

    #: option name -> default value; :meth:`from_options` rejects any other name.
    defaults: Mapping[str, Any] = {}
    #: option name -> the values it takes (checked when the workflow is parsed, and listed by `stseg models --options`)
    limits: Mapping[str, Limit] = {}

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise OptionError(
                f"{type(self).__name__}: unknown option(s) {unknown}; known options: {sorted(self.defaults)}"
            )
        self.options = {**self.defaults, **options}
        for name, limit in self.limits.items():
            problem = limit.problem(self.options[name])
            if problem:
                raise OptionError(f"{type(self).__name__}: option {name}: {problem} (allowed: {limit})")
        self.objects: tuple[int, ...] = ()
        #: per-object confidence of the last step (object id -> score in [0, 1]), when the model has one
        self.scores: dict[int, float] = {}
        #: per-pixel probabilities of the last step (object id -> ``float32`` map in [0, 1] at the frame's size),
        #: when the model gives them and its ``probabilities`` option is on (:mod:`stseg.probabilities`)
        self.probabilities: dict[int, np.ndarray] | None = None
        self._loaded: dict[str, Any] = {}
        #: seconds spent in :meth:`loaded` building (network construction, checkpoint read) so far
        self.load_seconds = 0.0

    def loaded(self, key: str, build: Callable[[], T]) -> T:
        """What ``build`` makes (a network with its checkpoint, a predictor), made once per model instance.

        A batched inference job (:mod:`stseg.batching`) segments every video of its batch with one instance,
        so the weights are read once per job; ``key`` names what was built (a new key replaces the old one,
        so one network is held at a time).  Everything per video (memory, state) stays in :meth:`segment_video`.
        """
        if key not in self._loaded:
            import time

            self._loaded.clear()
            started = time.perf_counter()
            self._loaded[key] = build()
            self.load_seconds += time.perf_counter() - started
        return self._loaded[key]

    def memory_estimate_mb(self, frames: int, height: int, width: int) -> float | None:
        """Memory the model needs for a video of this size, when it can say (None: no estimate).

        ``stseg infer`` compares it with the job's ``mem_mb`` before starting, so a job
        that cannot fit fails at once with the figure (and is retried with the
        attempt-scaled memory) instead of being killed half-way.
        """
        return None

    @abstractmethod
    def segment_video(self, files: Sequence[Path], labels: np.ndarray,
                      later: Mapping[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """Label maps of frames 1, 2, ... of the video whose frame files are ``files``.

        ``labels``: the first frame's annotation.  ``later``: frame index -> the
        masks of the objects first annotated on that frame (0 elsewhere;
        :mod:`stseg.annotation`).  After each yielded map, :attr:`scores` holds
        that frame's per-object confidences, and :attr:`probabilities` its per-pixel probabilities (or None).
        """


class StreamingPropagator(Propagator):
    """A model that segments one decoded frame at a time."""

    def start(self, frame: np.ndarray, labels: np.ndarray) -> None:
        """Initialise from the first frame and its annotation (nothing of an earlier video is kept)."""
        self.objects = object_ids(labels)
        self.scores = {}
        self._start(frame, labels)

    @abstractmethod
    def _start(self, frame: np.ndarray, labels: np.ndarray) -> None: ...

    @abstractmethod
    def step(self, frame: np.ndarray) -> np.ndarray:
        """Segment the next frame; return its label map."""

    def segment_video(self, files: Sequence[Path], labels: np.ndarray,
                      later: Mapping[int, np.ndarray] | None = None) -> Iterator[np.ndarray]:
        """Decode each frame and call :meth:`start` / :meth:`step`; objects first annotated
        later are added by :meth:`add_objects` on their frame."""
        from ..dataset import read_frames

        later = later or {}
        frames = read_frames(list(files))
        self.start(next(frames), labels)
        for index, frame in enumerate(frames, start=1):
            yield self.add_objects(frame, later[index]) if index in later else self.step(frame)

    def add_objects(self, frame: np.ndarray, given: np.ndarray) -> np.ndarray:
        """Segment a frame on which objects are first annotated (``given``: their ids, 0 elsewhere).

        The default segments the frame, sets the new objects to their given masks
        and starts again from that map (the model's memory of earlier frames is
        lost); a model with its own way to add objects mid-video overrides this.
        """
        merged = np.where(given > 0, given, self.step(frame)).astype(np.uint8)
        scores = dict(self.scores)
        self.start(frame, merged)
        self.scores = {**scores, **{obj: 1.0 for obj in object_ids(given)}}
        return merged
