"""The run summary: every model's score per video, the choices, and how they compare with the truth.

Files (in the results folder):

* ``summary.csv``: one row per (video, model): ``pseudo_JF`` and ``gt_JF`` (means
  over the video's objects; ``gt_JF`` empty without ground truth),
  ``chosen_video`` (1 for the per-video choice) and ``chosen_objects`` (the
  objects for which per-object selection chose this model, space-separated).
* ``summary_overall.csv``: one row per method, pooled over every object of every
  video as the official evaluation does: each model alone, ``selection:video``,
  ``selection:object``, ``selection:vote``, ``selection:fuse``, ``selection:auto`` (the final masks of each
  strategy), ``oracle:video``
  (the best model per video by ground truth) and ``oracle:object`` (best per
  object); ``J, F, JF`` against the ground truth, ``pseudo_JF`` for the models.
* ``summary.txt``: both as text, and per video the final answer (the strategy's model, and what the fusion
  removed from and added to that model's masks), printed at the end of a run.  Without ground truth the pooled
  table shows what is known: each model's and each strategy's J&F against the pseudo-labels, and the final
  answer's, labelled as an estimate of its J&F.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["summarize", "format_summary", "where_to_look"]


def summarize(scores: pd.DataFrame, outcomes: pd.DataFrame, model_order: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-(video, model) and overall tables from the concatenated score and outcome tables."""
    pseudo = scores[scores["reference"] == "pseudo"]
    gt = scores[scores["reference"] == "gt"]
    per_video = pseudo.groupby(["video", "model"], sort=False)["JF"].mean().rename("pseudo_JF").reset_index()
    gt_means = gt.groupby(["video", "model"], sort=False)["JF"].mean().rename("gt_JF").reset_index()
    per_video = per_video.merge(gt_means, on=["video", "model"], how="left")
    video_choice = outcomes[outcomes["strategy"] == "video"].groupby("video")["model"].first()
    per_video["chosen_video"] = (per_video["model"] == per_video["video"].map(video_choice)).astype(int)
    object_choice = outcomes[outcomes["strategy"] == "object"]
    chosen_objects = object_choice.groupby(["video", "model"])["object"].apply(lambda s: " ".join(str(int(o)) for o in sorted(s)))
    per_video["chosen_objects"] = [chosen_objects.get((v, m), "") for v, m in zip(per_video["video"], per_video["model"])]
    order = {m: i for i, m in enumerate(model_order)}
    per_video = per_video.sort_values(["video", "model"], key=lambda c: c.map(order) if c.name == "model" else c, kind="stable")

    rows = []
    # with ground truth on some videos only, every row pools the same objects: those of the videos scored against it
    scored = set(gt["video"]) if not gt.empty else set(pseudo["video"])
    pseudo_scored = pseudo[pseudo["video"].isin(scored)]
    for model in model_order:
        mine = gt[gt["model"] == model] if not gt.empty else pseudo[pseudo["model"] == model].assign(JF=np.nan)
        rows.append(_pooled(model, mine, pseudo_scored[pseudo_scored["model"] == model]["JF"].mean()))
    for strategy in ("video", "object", "vote", "fuse", "auto"):
        if strategy not in ("video", "object") and not (outcomes["strategy"] == strategy).any():
            continue
        mine = outcomes[(outcomes["strategy"] == strategy) & outcomes["video"].isin(scored)]
        mine = mine.rename(columns={"gt_J": "J", "gt_F": "F", "gt_JF": "JF"})
        rows.append(_pooled(f"selection:{strategy}", mine, mine["pseudo_JF"].mean()))
    if not gt.empty:
        video_means = gt.groupby(["video", "model"])["JF"].mean().reset_index()
        best_video = video_means.loc[video_means.groupby("video")["JF"].idxmax()][["video", "model"]]
        rows.append(_pooled("oracle:video", gt.merge(best_video, on=["video", "model"]), np.nan))
        best_object = gt.loc[gt.groupby(["video", "object"])["JF"].idxmax()]
        rows.append(_pooled("oracle:object", best_object, np.nan))
    overall = pd.DataFrame(rows, columns=["method", "objects", "J", "F", "JF", "pseudo_JF"])
    return per_video.reset_index(drop=True), overall


def _pooled(method: str, table: pd.DataFrame, pseudo_jf: float) -> tuple:
    if table.empty or table["JF"].isna().all():
        return (method, len(table), np.nan, np.nan, np.nan, pseudo_jf)
    return (method, len(table), table["J"].mean(), table["F"].mean(), table["JF"].mean(), pseudo_jf)


def format_summary(per_video: pd.DataFrame, overall: pd.DataFrame, outcomes: pd.DataFrame | None = None,
                   strategy: str | None = None) -> str:
    """A plain-text table a person can read at the end of a run; with the ``outcomes`` and the configured
    ``strategy``, per video the final answer and what the fusion changed."""
    truth = per_video["gt_JF"].notna().any()
    head = "J&F against pseudo-labels / ground truth" if truth else "J&F against the pseudo-labels; no ground truth"
    lines = [f"Per video ({head}; * = chosen for the video):"]
    for video, group in per_video.groupby("video", sort=False):
        cells = []
        for row in group.itertuples():
            gt = "" if pd.isna(row.gt_JF) else f"/{row.gt_JF:.3f}"
            cells.append(f"{'*' if row.chosen_video else ' '}{row.model} {row.pseudo_JF:.3f}{gt}")
        lines.append(f"  {video:<20} " + "  ".join(cells))
    if outcomes is not None and strategy is not None:
        lines += ["", f"Final answer per video (strategy {strategy}):", *_final_lines(outcomes, strategy)]
    lines.append("")
    lines.append("Overall (mean over all objects, as the official evaluation):")
    lines.append(f"  {'method':<18} {'objects':>7} {'J':>7} {'F':>7} {'J&F':>7} {'pseudo J&F':>10}")
    final = f"selection:{strategy}" if strategy else None
    for row in overall.itertuples():
        fmt = lambda x: "      -" if pd.isna(x) else f"{x:7.4f}"
        pseudo = "         -" if pd.isna(row.pseudo_JF) else f"{row.pseudo_JF:10.4f}"
        mark = "  <- final answer" if row.method == final else ""
        lines.append(f"  {row.method:<18} {row.objects:>7} {fmt(row.J)} {fmt(row.F)} {fmt(row.JF)} {pseudo}{mark}")
    unscored = sorted(set(per_video["video"]) - set(per_video.loc[per_video["gt_JF"].notna(), "video"]))
    if truth and unscored:
        lines.append(f"  Pooled over the {int(overall['objects'].iloc[0])} objects of the videos with ground truth on "
                     f"every frame; without it (not scored, left out of every row): {', '.join(unscored)}.")
    if not truth and final is not None and final in set(overall["method"]):
        estimate = overall.loc[overall["method"] == final, "pseudo_JF"].iloc[0]
        if pd.notna(estimate):
            lines.append(f"  No ground truth: the final answer's J&F is estimated by its J&F against the pseudo-labels, "
                         f"{estimate:.4f} (an estimate, not a score).")
    return "\n".join(lines) + "\n"


def _final_lines(outcomes: pd.DataFrame, strategy: str) -> list[str]:
    """Per video: the final answer's model (the fusion's anchor) and the pixels the fusion removed and added."""
    lines = []
    for video, group in outcomes.groupby("video", sort=False):
        mine = group[group["strategy"] == strategy]
        if mine.empty:
            continue
        models = ", ".join(dict.fromkeys(str(m) for m in mine["model"]))
        text = f"  {video:<20} {models}"
        fused = group[group["strategy"] == "fuse"] if strategy in ("fuse", "auto") else group.iloc[0:0]
        if strategy == "auto":
            text += f" (auto chose {models})"
        if len(fused) and fused["kept"].notna().all():
            kept, removed, added = (int(fused[c].sum()) for c in ("kept", "removed", "added"))
            share = removed / max(kept + removed, 1)
            text += f"; the fusion kept {kept} px of its masks, removed {removed} ({share:.1%}), added {added}"
        lines.append(text)
    return lines


def where_to_look(results: str | os.PathLike[str], config_files: Sequence[str | os.PathLike[str]] = ()) -> str:
    """The lines printed after the summary: the report's first page, the submission zip and the command that
    builds Snakemake's report."""
    results = Path(results)
    configs = "".join(f" --configfile {shlex.quote(str(c))}" for c in config_files)
    return ("Where to look:\n"
            f"  the report's first page: {results / 'report' / 'summary.html'} (overlays: {results / 'report' / 'overlays'}/)\n"
            f"  the submission zip:      {results / 'submission.zip'}\n"
            f"  the full report:         snakemake{configs} --report {results / 'report.html'}\n")
