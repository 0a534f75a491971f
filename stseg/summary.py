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
* ``failed.csv``: written when a run ends with failed jobs (``--keep-going``
  lets the other videos finish): one row per video without final masks,
  ``video, stage, log, reason``, the reason being the error line of the
  failed job's log; printed with the videos that did finish.  With the dataset
  prior on, a video whose own jobs all succeeded waits for every video's scores:
  its row says so (stage ``select``, reason :data:`WAITING`).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .files import glob_escape

__all__ = ["summarize", "format_summary", "where_to_look", "failed_job_logs", "failure_report", "format_failures",
           "NOT_FINISHED", "WAITING"]


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
    for model in model_order:
        mine = gt[gt["model"] == model] if not gt.empty else pseudo[pseudo["model"] == model].assign(JF=np.nan)
        rows.append(_pooled(model, mine, pseudo[pseudo["model"] == model]["JF"].mean()))
    for strategy in ("video", "object", "vote", "fuse", "auto"):
        if strategy not in ("video", "object") and not (outcomes["strategy"] == strategy).any():
            continue
        mine = outcomes[outcomes["strategy"] == strategy].rename(columns={"gt_J": "J", "gt_F": "F", "gt_JF": "JF"})
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


#: below this much free space an empty log is blamed on a full disk
FULL_DISK_BYTES = 1 << 20


def _reason(text: str, results: Path | None = None) -> str:
    """The error line of a job's log: stseg's ``... error: ...`` line, else the last line; for an empty log on a
    full file system, that."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if ": error:" in line or line.startswith(("Error", "MemoryError", "RuntimeError", "OSError")):
            return line
    if lines:
        return lines[-1]
    if results is not None and shutil.disk_usage(results).free < FULL_DISK_BYTES:
        free = shutil.disk_usage(results).free
        return (f"(empty log) the file system of {results} is full ({free // 1024} KiB free): the job could not "
                "write its outputs or its log. Free some space and rerun; the finished jobs are kept.")
    return "(empty log: the job was killed or never started)"


#: the reason given for a video whose own jobs all succeeded but whose selection waits for the dataset prior
WAITING = ("not selected yet: its masks, pseudo-labels and scores are complete, but the dataset prior "
           "(pgmr.prior_margin) needs every video's scores; fix or leave out the failed video(s) and rerun, or set "
           "pgmr.prior_margin: null")


#: the reason given for a video whose jobs did not fail but did not all run (the run stopped at another's failure)
NOT_FINISHED = "not finished: the run stopped at another video's failure (--keep-going lets the others finish)"


def failed_job_logs(snakemake_logs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[Path]:
    """The job logs named by the ``Error in rule ...`` blocks of a Snakemake run's own log file(s) (the ``log`` of
    an ``onerror`` handler): this run's failures."""
    if snakemake_logs is None:
        return []
    if isinstance(snakemake_logs, (str, os.PathLike)):
        snakemake_logs = [snakemake_logs]
    lines = [line for path in snakemake_logs if Path(path).is_file()
             for line in Path(path).read_text(errors="replace").splitlines()]
    logs: list[Path] = []
    in_error = False
    for line in lines:
        if line.startswith("Error in rule") or line.startswith("Error in group"):
            in_error = True
        elif in_error and line.strip().startswith("log:"):
            names = line.strip()[len("log:"):].split(" (check log file")[0]
            logs.extend(Path(name.strip()) for name in names.split(",") if name.strip())
        elif in_error and not line.startswith(" "):
            in_error = False
    return logs


def _current(outcome: Path, inputs: Sequence[Path]) -> bool:
    """Whether a selection ``outcome`` exists and is newer than every input it was made from (all present)."""
    if not outcome.is_file():
        return False
    made = outcome.stat().st_mtime_ns
    for path in inputs:
        stamp = path / ".snakemake_timestamp" if path.is_dir() else path
        if not stamp.exists() or stamp.stat().st_mtime_ns > made:
            return False
    return True


def failure_report(results: str | os.PathLike[str], videos: Sequence[str],
                   failed_logs: Sequence[str | os.PathLike[str]] = (),
                   selection_inputs: Callable[[str], Sequence[Path]] | None = None,
                   left_undone: Callable[[str, bool], bool] | None = None,
                   shared_logs: Callable[[str], Sequence[Path]] | None = None) -> pd.DataFrame:
    """Every video whose job failed in this run (``failed_logs``: from :func:`failed_job_logs`), with the stage, log
    and reason, and every other video without a current selection outcome, saying why (waiting for the dataset
    prior, or not finished).  ``selection_inputs(video)`` lists what a video's outcome is made from: an outcome
    older than one of them, or with one missing, is from an earlier run and does not count; nor does a video for
    which ``left_undone(video, before_selection)`` says this run had jobs to do that it did not finish (all its
    jobs, or only those before the selection: a video whose selection alone is left waits for the prior).
    ``shared_logs(video)``: the logs of the jobs that do the video together with others (the batch jobs that
    segment it, stseg.batching; its chunk's jobs, stseg.chunks)."""
    results = Path(results)
    failed = {Path(p).resolve() for p in failed_logs}
    rows = []
    for video in videos:
        own = list((results / "logs").rglob(f"{glob_escape(video)}.log"))
        logs = {p: p.read_text(errors="replace") for p in [*own, *(shared_logs(video) if shared_logs else [])]
                if p.is_file()}
        failing = [p for p in logs if p.resolve() in failed]
        inputs = selection_inputs(video) if selection_inputs is not None else []
        undone = left_undone is not None and left_undone(video, False)
        if not failing and not undone and _current(results / "outcome" / f"{video}.csv", inputs):
            continue  # complete, and none of its jobs failed in this run
        failing = failing or [p for p, text in logs.items() if ": error:" in text or "Traceback" in text]
        if failing:
            chosen = max(failing, key=lambda p: p.stat().st_mtime)
            stage = "/".join(chosen.relative_to(results / "logs").parts[:-1])
            rows.append((video, stage, str(chosen), _reason(logs[chosen], results)))
        elif (not (left_undone is not None and left_undone(video, True)) and all(p.exists() for p in inputs)
              and (results / "scores" / f"{video}.csv").is_file()):
            rows.append((video, "select", "", WAITING))
        else:
            rows.append((video, "", "", NOT_FINISHED))
    return pd.DataFrame(rows, columns=["video", "stage", "log", "reason"])


def format_failures(failures: pd.DataFrame, total: int) -> str:
    waiting = int((failures["reason"] == WAITING).sum())
    unfinished = int((failures["reason"] == NOT_FINISHED).sum())
    failed = len(failures) - waiting - unfinished
    if unfinished:
        head = f"{failed} of {total} video(s) failed; {unfinished} did not finish"
        head += f"; {waiting} wait for the dataset prior" if waiting else ""
    else:
        head = f"{failed} of {total} video(s) failed; the others' results are complete"
        head += f" up to their scores ({waiting} wait for the dataset prior)" if waiting else ""
    lines = [head + ":"]
    for row in failures.itertuples(index=False):
        lines.append(f"  {row.video}: {row.stage or '-'}: {row.reason}")
        if row.log:
            lines.append(f"      log: {row.log}")
    return "\n".join(lines) + "\n"
