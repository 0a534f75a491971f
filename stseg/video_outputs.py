"""Each video's outputs and what stands for them: the targets of a run, the records that own outputs, the logs.

What the workflow's bookkeeping asks of a plan (:class:`~stseg.workflow.Plan`):
the targets of ``rule all`` (every per-video intermediate too, so that one deleted
after a run is made again), what a user changed in the workflow's own outputs
since their jobs made them (the jobs' stamps, :mod:`stseg.stamps`: a folder
edited in place, one that lost a frame), the records that own per-video files in
the chunked layout, what a video's
selection is made from and every output of a video (for the failure report and
the outputs set aside after a failing run), and the logs of the jobs a video
shares with others.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .chunks import CHUNK_STAGES
from .results_layout import FOLDERS
from .stamps import folder_state

if TYPE_CHECKING:  # (the plan is passed in; nothing of it is imported at run time)
    from .workflow import Plan

__all__ = ["VideoOutputs"]

#: the tables a chunk job of each stage writes per video
CHUNK_TABLES = {"refine": ("boxes", "fused", "weights", "scores"), "select": ("selection", "outcome")}

Owned = list[tuple[Path, "tuple[str, ...] | None"]]


class VideoOutputs:
    """The outputs of a plan's videos (module docstring)."""

    def __init__(self, plan: "Plan") -> None:
        self.plan = plan
        self._owners: dict[Path, Path] | None = None
        self._frames: dict[Path, tuple[str, ...]] | None = None

    # --- what a user changed in the workflow's own outputs (the jobs' stamps, stseg.stamps) -------------------
    def edited(self, path: str | Path) -> str | None:
        """``"edited <ns>"`` when a workflow output a job reads was changed in place after the job that made it
        (a folder's file rewritten, added or deleted; in the chunked layout, a file or folder its record owns);
        else None."""
        path = Path(path)
        owner = self.owners().get(path)
        if owner is None and not path.is_dir():
            return None  # a plain file output: Snakemake compares its time itself
        state = folder_state(path, None, owner) if path.is_dir() else _file_state(path, owner)
        return state if state is not None and state.startswith("edited") else None

    def incomplete(self, path: str | Path) -> str | None:
        """``"missing ..."`` when an output a job makes lost a frame's PNG, or, in the chunked layout, when an output its
        record owns is gone (Snakemake sees the record, not the output): the job makes it again.  Else None (an output
        Snakemake sees itself is remade when it is missing)."""
        path = Path(path)
        owner = self.owners().get(path)
        if owner is not None and owner.exists() and not path.exists():
            return "missing (gone)"
        frames = self.frames_of().get(path)
        if frames is None:
            return None
        state = folder_state(path, frames, owner)
        return state if state is not None and state.startswith("missing") else None

    def owners(self) -> dict[Path, Path]:
        """In the chunked layout, each per-video output owned by a record -> the record."""
        if self._owners is None:
            self._owners = {output: record for record, owned in self.records() for output, _ in owned}
        return self._owners

    def frames_of(self) -> dict[Path, tuple[str, ...]]:
        """Every per-video folder output -> the frames it holds a PNG for."""
        if self._frames is None:
            self._frames = {folder: tuple(frames) for folder, frames in self.folders()}
            for _, owned in self.records():
                self._frames.update({path: tuple(frames) for path, frames in owned if frames is not None})
        return self._frames

    def targets(self) -> list[str]:
        """What ``rule all`` asks for: the dataset-level outputs, and every per-video output (or, in the chunked
        layout, the records that stand for them)."""
        plan, paths = self.plan, self.plan.layout
        outputs = [paths.path("summary.csv"), paths.path("submission.zip"), paths.path("report", "scores.png"),
                   paths.path("report", "summary.html"), *self.calibration]
        if plan.chunks:
            outputs += [paths.chunk_record(stage, chunk) for stage in CHUNK_STAGES for chunk in plan.chunks]
            outputs += sorted({plan.mask_source(m, video) for m in plan.models.names for video in plan.videos})
            return outputs
        outputs += [paths.overlay(video, "jpg") for video in plan.videos]
        for video in plan.videos:
            outputs += [paths.masks(model, video) for model in plan.models.names]
            outputs += [plan.raw_masks(model, video) for model in plan.models.foreground]
            outputs += [paths.table(stage, video) for stage in ("fused", "weights", "scores", "outcome")]
            outputs.append(paths.folder("pseudo", video))
        return outputs

    @property
    def calibration(self) -> list[str]:
        """The report's calibration figure, made when a video has ground truth (else none)."""
        plan = self.plan
        if any(plan.inputs.has_ground_truth(video) for video in plan.videos):
            return [plan.layout.path("report", "calibration.png")]
        return []

    def resource_records(self) -> list[str]:
        """What every model's jobs ran on and used (:mod:`stseg.job_record`): a per-video job's record, or its batch
        job's record (the report's resources table)."""
        plan, records = self.plan, []
        for model in plan.models.names:
            if model in plan.batches:
                records += sorted({plan.batch_record(model, video) for video in plan.videos})
            else:
                records += [plan.layout.path("resources", model, f"{video}.json") for video in plan.videos]
        return records

    def made_by(self, stage: str, chunk_stage: str) -> list[str]:
        """What a dataset-level job waits for before reading every video's files of a stage: the files, or in the
        chunked layout the chunk records that own them."""
        plan = self.plan
        if plan.chunks:
            return [plan.layout.chunk_record(chunk_stage, chunk) for chunk in plan.chunks]
        if stage in FOLDERS:
            return [plan.layout.folder(stage, video) for video in plan.videos]
        return [plan.layout.table(stage, video) for video in plan.videos]

    def folders(self) -> list[tuple[Path, tuple[str, ...]]]:
        """Every per-video folder output, with the frames it holds a PNG for."""
        plan, folders = self.plan, []
        for video, info in plan.videos.items():
            folders += [(Path(plan.raw_masks(m, video)), info.frames) for m in plan.models.names]
            folders += [(Path(plan.layout.masks(m, video)), info.frames) for m in plan.models.foreground]
            folders += [(Path(plan.layout.folder(stage, video)), info.frames) for stage in FOLDERS]
        return folders

    def chunk_outputs(self, stage: str, video: str) -> Owned:
        """The per-video outputs a chunk job of ``stage`` writes for ``video``, each with the frames a folder holds a
        PNG for (None for a file)."""
        plan, paths = self.plan, self.plan.layout
        frames = plan.videos[video].frames
        files = [paths.table(s, video) for s in CHUNK_TABLES[stage]]
        if stage == "refine":
            folders = [paths.masks(m, video) for m in plan.models.foreground] + [paths.folder("pseudo", video)]
        else:
            files += [paths.overlay(video, ext) for ext in ("png", "jpg")]
            folders = [paths.folder("final", video)]
        return [(Path(f), None) for f in files] + [(Path(f), frames) for f in folders]

    def records(self) -> list[tuple[Path, Owned]]:
        """In the chunked layout, every record with the per-video outputs it owns: the batched models' batch records
        and the chunk records."""
        plan = self.plan
        if not plan.chunks:
            return []
        out: list[tuple[Path, Owned]] = []
        for model, batches in plan.batches.items():
            for name in batches:
                owned: Owned = [(Path(plan.raw_masks(model, v)), plan.videos[v].frames)
                                for v in batches.videos(name) if v in plan.videos]
                out.append((Path(plan.layout.batch_record(model, name)), owned))
        for stage in CHUNK_STAGES:
            for name in plan.chunks:
                owned = [o for v in plan.chunks.videos(name) if v in plan.videos for o in self.chunk_outputs(stage, v)]
                out.append((Path(plan.layout.chunk_record(stage, name)), owned))
        return out

    def selection_inputs(self, video: str) -> list[Path]:
        """What ``video``'s selection is made from: every model's masks, the pseudo-labels, the fused boxes, the
        weights and the scores (none for a video no longer in the dataset)."""
        plan, paths = self.plan, self.plan.layout
        if video not in plan.videos:
            return []
        if plan.chunks:  # what Snakemake sees of them: the records (a batched model's) and the folders
            sources = [Path(plan.mask_source(m, video)) for m in plan.models.names]
            return sources + [Path(paths.chunk_record("refine", plan.chunks.of(video)))]
        sources = [Path(plan.raw_masks(m, video)) for m in plan.models.names]
        sources += [Path(paths.masks(m, video)) for m in plan.models.foreground]
        sources.append(Path(paths.folder("pseudo", video)))
        return sources + [Path(paths.table(stage, video)) for stage in ("fused", "weights", "scores")]

    def of_video(self, video: str) -> list[Path]:
        """Every per-video intermediate output of ``video``: the selection's inputs, its answer and its outcome."""
        plan, paths = self.plan, self.plan.layout
        if video not in plan.videos:
            return []
        own = [Path(paths.folder("final", video)), Path(paths.table("outcome", video))]
        if plan.chunks:
            own.append(Path(paths.chunk_record("select", plan.chunks.of(video))))
        return [*self.selection_inputs(video), *own]

    def shared_logs(self, video: str) -> list[Path]:
        """The logs of the jobs that do ``video`` together with other videos: the batch jobs that segment it (one
        per batched model) and, in the chunked layout, its chunk's jobs."""
        plan = self.plan
        if video not in plan.videos:
            return []
        logs = [Path(plan.layout.path("logs", "infer_batch", m, f"{g.of(video)}.log")) for m, g in plan.batches.items()]
        if plan.chunks:
            logs += [Path(plan.layout.path("logs", "chunks", stage, f"{plan.chunks.of(video)}.log"))
                     for stage in CHUNK_STAGES]
        return logs



def _file_state(path: Path, made: Path | None) -> str | None:
    """``"edited <ns>"`` when a file output changed after ``made`` (the record that owns it)."""
    try:
        changed = path.stat().st_mtime_ns
        finished = made.stat().st_mtime_ns if made is not None else None
    except FileNotFoundError:
        return None
    return f"edited {changed}" if finished is not None and changed > finished else None
