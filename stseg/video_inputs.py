"""What the jobs read of the dataset: each video's frames and annotations, and stamps of them.

Snakemake sees a folder as one mtime and a file only as newer or older than the
outputs made from it.  So the jobs that read a video's frames or annotations also
take a **stamp** of them as a parameter (:mod:`stseg.freshness`: each file's name,
size and mtime), and a changed parameter reruns the job: a frame rewritten in
place, or an annotation restored with an older mtime (``cp -p``, ``rsync -a``,
``tar``, ``unzip``), reruns what reads it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .dataset import DatasetError, VideoInfo
from .freshness import file_stamp, folder_stamp

__all__ = ["VideoInputs"]


@dataclass
class VideoInputs:
    """The dataset's valid videos under ``root``; ``ground_truth``: ``dataset.ground_truth`` (auto, yes, no)."""

    root: Path
    videos: Mapping[str, VideoInfo]
    ground_truth: str = "auto"
    _stamps: dict[str, str] = field(default_factory=dict, repr=False)

    def frames_dir(self, video: str) -> str:
        return str(self.root / "JPEGImages" / video)

    def annotation_dir(self, video: str) -> str:
        return str(self.root / "Annotations" / video)

    def annotation_files(self, video: str) -> list[str]:
        """Every frame's annotation PNG (for a video with ground truth on every frame)."""
        return [os.path.join(self.annotation_dir(video), f"{frame}.png") for frame in self.videos[video].frames]

    def given_annotations(self, video: str) -> list[str]:
        """The annotation a video's jobs are given: the first frame's PNG, then each later PNG that introduces an
        object (sparse annotations; :mod:`stseg.annotation`)."""
        info = self.videos[video]
        folder = self.annotation_dir(video)
        return [os.path.join(folder, f"{frame}.png") for frame in (info.first_frame, *info.appearance_frames)]

    def has_ground_truth(self, video: str) -> bool:
        if self.ground_truth == "no":
            return False
        if self.ground_truth == "yes" and not self.videos[video].fully_annotated:
            raise DatasetError(f"{self.annotation_dir(video)}: dataset.ground_truth is 'yes' but not every frame is "
                               "annotated.")
        return self.videos[video].fully_annotated

    def truth_files(self, video: str) -> list[str]:
        """Every ground-truth PNG of the video (none without ground truth): an input of the jobs that score against
        it, so that correcting one reruns them."""
        return self.annotation_files(video) if self.has_ground_truth(video) else []

    def truth_args(self, video: str) -> list[str]:
        """``--gt <folder>`` for a video with ground truth, else nothing."""
        return ["--gt", self.annotation_dir(video)] if self.has_ground_truth(video) else []

    def stamp(self, folder: str) -> str:
        """:func:`stseg.freshness.folder_stamp` of a folder, once per parse."""
        if folder not in self._stamps:
            self._stamps[folder] = folder_stamp(folder)
        return self._stamps[folder]

    def annotation_stamp(self, video: str, truth: bool = False) -> str:
        """A digest of the annotation files a job of ``video`` reads (name, size, mtime): the given ones, and with
        ``truth`` the whole ``Annotations/<video>`` folder when the video is scored against it."""
        parts = [file_stamp(path, Path(path).name) for path in self.given_annotations(video)]
        if truth and self.has_ground_truth(video):
            parts.append(self.stamp(self.annotation_dir(video)))
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]
