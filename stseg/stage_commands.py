"""The light stages' command lines: what each rule (and each chunk job, for its videos) runs.

The per-video rules (``rules/pgmr.smk``, ``rules/output.smk``) and the chunk jobs
of the chunked layout (:mod:`stseg.chunks`) run the same ``stseg`` commands with
the same arguments, built here once: the models' ``model=folder`` pairs, the
selection's arguments, and each video's steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .chunks import CHUNK_STAGES, Step, steps_digest
from .files import write_if_changed

if TYPE_CHECKING:  # (the plan is passed in)
    from .workflow import Plan

__all__ = ["StageCommands"]


class StageCommands:
    """The command lines of a plan's light stages."""

    def __init__(self, plan: "Plan") -> None:
        self.plan = plan
        self._steps: dict[tuple[str, str], str] = {}

    def masks_of(self, models: list[str], video: str) -> list[str]:
        """The masks folders (``masks/<model>/<video>``) of ``models``."""
        return [self.plan.layout.masks(m, video) for m in models]

    def pairs_of(self, models: list[str], video: str, raw: bool = False) -> list[str]:
        """``model=folder`` arguments of ``models`` (``raw``: the folders their jobs write, :meth:`raw_masks`)."""
        return [f"{m}={self.plan.raw_masks(m, video) if raw else self.plan.layout.masks(m, video)}" for m in models]

    @property
    def foreground_args(self) -> list[str]:
        """``--foreground-model`` for each foreground-only voter (the pseudo-label's argument)."""
        return [a for m in self.plan.models.voting if self.plan.models[m].foreground_only for a in ("--foreground-model", m)]

    @property
    def prior_input(self) -> list[str]:
        """The dataset prior, when the selection reads it (pgmr.prior_margin, the fusion's reliabilities)."""
        return [self.plan.layout.prior] if self.uses_prior else []

    @property
    def uses_prior(self) -> bool:
        """Whether the selection reads the dataset prior (``prior.csv``): for ``pgmr.prior_margin``, and for the
        fusion's reliabilities (strategies ``fuse`` and ``auto`` with ``pgmr.fuse_reliability: prior``)."""
        select = self.plan.stages["select"]
        return select.prior_margin is not None or (select.strategy in ("fuse", "auto") and select.fuse_reliability == "prior")

    def select_args(self, video: str) -> list[str]:
        """The ``stseg select`` arguments beside the per-video paths every layout gives it: the prior, the voters,
        the baselines, the frames and the given annotation."""
        prior = ["--prior", self.plan.layout.prior] if self.uses_prior else []
        baselines = ["--baselines", *self.plan.models.baselines] if self.plan.models.baselines else []
        return [*prior, "--voters", *self.plan.models.voting, *baselines, "--frames", self.plan.inputs.frames_dir(video),
                "--annotation", *self.plan.inputs.given_annotations(video)]

    def video_steps(self, stage: str, video: str) -> list[Step]:
        """The ``stseg`` commands of one video's light stages, with the arguments the per-video rules give them
        (``rules/pgmr.smk``, ``rules/output.smk``): ``refine`` is fuse, split-foreground, pseudolabel and score,
        ``select`` is select and overlay."""
        paths, data, models = self.plan.layout, self.plan.inputs, self.plan.models
        annotation = data.given_annotations(video)
        gt = data.truth_args(video)
        fused, pseudo, scores = paths.table("fused", video), paths.folder("pseudo", video), paths.table("scores", video)
        everyone = self.pairs_of(models.names, video)

        def step(*argv: str) -> Step:
            return Step(video, argv)

        if stage == "refine":
            boxes = self.pairs_of(models.box_voters, video)
            steps = [step("fuse", "--masks", *boxes, "--annotation", *annotation, "--settings", self.plan.settings_json("fuse"),
                          "--boxes-out", paths.table("boxes", video), "--out", fused)]
            steps += [step("split-foreground", "--foreground", self.plan.raw_masks(m, video), "--masks", *boxes,
                           "--annotation", *annotation, "--fused", fused, "--settings",
                           self.plan.settings_json("split_foreground"), "--out", paths.masks(m, video))
                      for m in models.foreground]
            voters = self.pairs_of(models.voting, video, raw=True)
            steps.append(step("pseudolabel", "--masks", *voters, "--annotation", *annotation, "--fused", fused,
                              "--settings", self.plan.settings_json("pseudolabel"), *self.foreground_args, "--out", pseudo,
                              "--weights-out", paths.table("weights", video)))
            steps.append(step("score", "--video", video, "--masks", *everyone, "--pseudo", pseudo,
                              "--frames", data.frames_dir(video), "--annotation", *annotation, *gt,
                              "--settings", self.plan.settings_json("score"), "--out", scores))
            return steps
        if stage == "select":
            final, selection = paths.folder("final", video), paths.table("selection", video)
            return [
                step("select", "--video", video, "--scores", scores, "--masks", *everyone, "--pseudo", pseudo,
                     *self.select_args(video), *gt, "--settings", self.plan.settings_json("select"), "--final", final,
                     "--out", selection, "--outcome", paths.table("outcome", video)),
                step("overlay", "--frames", data.frames_dir(video), "--masks", *everyone, "--pseudo", pseudo,
                     "--final", final, "--fused", fused, "--scores", scores, *gt, "--selection", selection,
                     "--strategy", self.plan.stages["select"].strategy, "--out", paths.overlay(video, "png"),
                     "--small", paths.overlay(video, "jpg")),
            ]
        raise ValueError(f"unknown chunk stage {stage!r}; known: {CHUNK_STAGES}")

    def chunk_steps(self, stage: str, chunk: str) -> str:
        """The steps of a chunk job as JSON: the per-video rules' commands for each of its videos."""
        if (stage, chunk) not in self._steps:
            self._steps[stage, chunk] = Step.to_json([s for v in self.plan.chunks.videos(chunk) for s in self.video_steps(stage, v)])
        return self._steps[stage, chunk]

    def chunk_steps_digest(self, stage: str, chunk: str) -> str:
        """The digest of a chunk job's steps: its parameter, so that changed steps rerun it, and what the job checks
        its steps file against."""
        return steps_digest(self.chunk_steps(stage, chunk))

    def keep_steps(self) -> None:
        """Write every chunk job's steps file whose content changed (the main Snakemake process only; the chunk jobs
        read them, checked against their digest)."""
        for stage in CHUNK_STAGES if self.plan.chunks else ():
            for chunk in self.plan.chunks:
                write_if_changed(self.plan.layout.steps_file(stage, chunk), self.chunk_steps(stage, chunk))
