"""The input functions of the rules, made from the plan's parts: one adapter per kind of job.

A Snakemake rule takes a function of a job's wildcards where a value depends on the
job (``input:``, ``params:``, ``resources:``).  Instead of a hand-written function
per value, the rules wrap the method of the part that knows it: ``per_video(plan.inputs.frames_dir)``
is ``frames_dir(wildcards.video)`` for each job, ``per_model_video(plan.raw_masks)``
is ``raw_masks(wildcards.model, wildcards.video)``.  ``times_attempt`` scales a
resource with the job's attempt (retries get more memory and time).
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["over_job_videos", "per_batch", "per_chunk", "per_model", "per_model_video", "per_run", "per_video",
           "times_attempt"]

InputFunction = Callable[..., Any]


def per_video(method: Callable[..., Any], *before: Any) -> InputFunction:
    """``method(*before, video)`` of each job."""
    return lambda wildcards: method(*before, wildcards.video)


def per_model(method: Callable[..., Any]) -> InputFunction:
    """``method(model)`` of each job."""
    return lambda wildcards: method(wildcards.model)


def per_model_video(method: Callable[..., Any]) -> InputFunction:
    """``method(model, video)`` of each job."""
    return lambda wildcards: method(wildcards.model, wildcards.video)


def per_batch(method: Callable[..., Any]) -> InputFunction:
    """``method(model, batch)`` of each batch job."""
    return lambda wildcards: method(wildcards.model, wildcards.batch)


def per_chunk(method: Callable[..., Any], *before: Any) -> InputFunction:
    """``method(*before, chunk)`` of each chunk job."""
    return lambda wildcards: method(*before, wildcards.chunk)


def per_run(method: Callable[..., Any]) -> InputFunction:
    """``method(run)`` of each fine-tuning job."""
    return lambda wildcards: method(wildcards.run)


def times_attempt(function: InputFunction) -> Callable[[Any, int], Any]:
    """A resource that grows with the attempt: ``function(wildcards) * attempt``."""
    return lambda wildcards, attempt: function(wildcards) * attempt


def over_job_videos(videos_of: Callable[[Any], list[str]], method: Callable[..., Any], with_model: bool = False,
                    unique: bool = False) -> InputFunction:
    """A batch or chunk job's values: ``method(video)`` (``method(model, video)`` with ``with_model``) of each of its
    videos (``videos_of(wildcards)``), lists flattened; ``unique``: sorted, each once."""

    def values(wildcards: Any) -> list[Any]:
        found: list[Any] = []
        for video in videos_of(wildcards):
            value = method(wildcards.model, video) if with_model else method(video)
            found.extend(value if isinstance(value, list) else [value])
        return sorted(set(found)) if unique else found

    return values
