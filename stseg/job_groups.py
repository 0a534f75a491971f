"""Videos grouped into jobs: a batched model's batches and the chunked layout's chunks are one concept.

A **job group** is a set of videos one job does together: a batch of a model's
inference (``inference.videos_per_job`` or the model's ``videos_per_job``; one
model load for the batch, :mod:`stseg.batching`) or a chunk of the light stages
(``stages.videos_per_job``; :mod:`stseg.chunks`).  Both are cut and kept the
same way.

**Assignment.**  The first run cuts the dataset's videos, in dataset order, into
consecutive groups of N named ``00000``, ``00001``, ... (``ceil(videos / N)``
jobs).  The assignment is kept in ``<results>/.stseg/groups.json`` and later runs
change it as little as they can: a removed video leaves its group, a new video
joins the last group while it has room, else starts a new one.  A changed N, or a
changed kind (a batched model's type), starts the assignment again.

On-disk format (``.stseg/groups.json``): one entry per set of groups, keyed
``infer/<model>`` for a batched model and ``stages`` for the chunks:
``{"per_job": N, "kind": <model type or "stages">, "groups": {name: [videos]}}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .files import write_if_changed

__all__ = ["JobGroups", "assign", "read_kept", "write_kept"]


def assign(videos: Sequence[str], per_job: int, previous: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """Group name -> its videos (module docstring: consecutive on a first run, changed as little as possible from
    ``previous`` on later runs)."""
    if per_job < 1:
        raise ValueError(f"videos_per_job must be at least 1, not {per_job}")
    if not previous:
        return {f"{k:05d}": list(videos[i : i + per_job]) for k, i in enumerate(range(0, len(videos), per_job))}
    present = set(videos)
    groups = {name: [v for v in members if v in present] for name, members in sorted(previous.items())}
    groups = {name: members for name, members in groups.items() if members}
    placed = {v for members in groups.values() for v in members}
    for video in videos:
        if video in placed:
            continue
        last = max(groups) if groups else None
        if last is None or len(groups[last]) >= per_job:
            last = f"{int(last) + 1 if last is not None else 0:05d}"
            groups[last] = []
        groups[last].append(video)
    return groups


def read_kept(path: str | os.PathLike[str]) -> dict:
    """The kept assignments (module docstring); empty when there are none."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # an unreadable record starts the assignment again: it costs reruns, never wrong masks


def write_kept(path: str | os.PathLike[str], kept: Mapping) -> None:
    write_if_changed(path, json.dumps(kept, indent=1, sort_keys=True))


@dataclass(frozen=True)
class JobGroups:
    """One set of groups: ``kind`` (a model type, or ``stages``), N videos per job, group name -> videos."""

    kind: str
    per_job: int
    groups: Mapping[str, list[str]] = field(default_factory=dict)
    _index: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def cut(cls, kind: str, per_job: int, videos: Sequence[str], kept: Mapping | None = None) -> "JobGroups":
        """The groups of ``videos``: none with ``per_job`` 1; else the kept assignment (``kept``: its entry in
        ``groups.json``) changed as little as possible, or a new one when N or the kind changed."""
        if per_job <= 1:
            return cls(kind, per_job)
        kept = kept or {}
        same = kept.get("per_job") == per_job and kept.get("kind") == kind
        return cls(kind, per_job, assign(videos, per_job, kept.get("groups") if same else None))

    def __bool__(self) -> bool:
        return bool(self.groups)

    def __iter__(self):
        return iter(self.groups)

    def videos(self, group: str) -> list[str]:
        return list(self.groups.get(group, ()))

    def of(self, video: str) -> str:
        """The group that holds ``video``."""
        if not self._index:  # built on the first call (every job asks)
            self._index.update({v: name for name, members in self.groups.items() for v in members})
        try:
            return self._index[video]
        except KeyError:
            raise KeyError(f"{video} is in no group of {self.kind}") from None

    def record(self) -> dict:
        """The entry kept in ``groups.json``."""
        return {"per_job": self.per_job, "kind": self.kind, "groups": {k: list(v) for k, v in self.groups.items()}}
