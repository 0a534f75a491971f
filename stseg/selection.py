"""Choosing models from their pseudo-label scores (the last PGMR stage).

**The selection score** of a candidate is its J&F against the pseudo-labels
times its edge alignment relative to the best candidate's, raised to
``pgmr.edge_power`` (:mod:`stseg.signals`): ``JF · (edge / max edge)^p``.  With
``p = 0`` it is STSeg's rule, agreement with the pseudo-labels alone; with
``p > 0`` a model whose outlines do not follow the image (it lost, froze or
smeared the object) loses ground even when the other voters agree with it.

**Per video** (``strategy: video``, STSeg's rule): the model with the highest
selection score, from the J&F and edge alignment averaged over the video's
objects.  Ties go to the higher J&F, then the higher mean J, then to the model
listed first in the config.

**The dataset prior** (``pgmr.prior_margin``, beyond STSeg): the model whose
per-video selection score, averaged over every video of the dataset, is highest
(``prior.csv``, the ``prior`` rule) is the default answer; a video keeps its own
best candidate only when that candidate scores at least ``1 + prior_margin``
times the prior model's score on that video.  A video's own evidence is noisy
(a few models that fail alike can agree on it); the dataset's is steadier.
``prior_margin: null`` turns it off (STSeg's per-video pick).  Every video's
choice therefore depends on every video's scores: adding a video reruns the
(cheap) selection of all of them.

**Per object** (``strategy: object``, beyond STSeg): for each object, the model
with the highest selection score on that object (same tie-break).  The chosen
masks are composed into one label map per frame: a pixel belongs to object
``k`` when ``k``'s chosen model labels it ``k``; when several objects claim a
pixel, the object whose choice scored higher keeps it (then the lower id); a
pixel no object claims is background.

**Pixel vote** (``strategy: vote``, beyond STSeg, as the 2025 rivals voted
pixels across models): the pseudo-labels themselves are the final masks.

On-disk format (``selection/<video>.csv``): every candidate, one row per
(level, object, model): ``video, level`` (``video`` or ``object``), ``object``
(0 for the video level), ``model, J, F, JF`` (against the pseudo-labels),
``edge`` (edge alignment), ``score`` (the selection score), ``rank`` (1 =
chosen) and ``chosen`` (0/1).  ``outcome/<video>.csv``: per strategy and object
the model used (``pseudo-label`` for the vote), its pseudo-label J&F and, with
ground truth, the true J, F and J&F of that strategy's final masks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .files import atomic_dir
from .masks import read_label_map, read_palette, write_label_map
from .metrics import score_arrays, score_video
from .settings import SelectSettings

__all__ = ["STRATEGIES", "apply_prior", "dataset_prior", "rank_candidates", "select", "compose_per_object", "run_selection"]

STRATEGIES = ("video", "object", "vote")
SELECTION_COLUMNS = ["video", "level", "object", "model", "J", "F", "JF", "edge", "score", "rank", "chosen"]
VOTE = "pseudo-label"


def selection_score(candidates: pd.DataFrame, edge_power: float) -> pd.Series:
    """``JF · (edge / max edge)^edge_power`` of each candidate (columns JF, edge); JF alone when the power is 0
    or no candidate has an edge alignment."""
    if edge_power == 0 or "edge" not in candidates or not (candidates["edge"].fillna(0) > 0).any():
        return candidates["JF"].astype(float)
    edge = candidates["edge"].fillna(0).clip(lower=0)
    return candidates["JF"] * (edge / edge.max()) ** edge_power


def rank_candidates(candidates: pd.DataFrame, model_order: Sequence[str], edge_power: float) -> pd.DataFrame:
    """Sort candidates (columns model, J, F, JF, edge) best first with the documented tie-break; add ``score``,
    ``rank`` and ``chosen``."""
    order = {name: i for i, name in enumerate(model_order)}
    missing = set(candidates["model"]) - set(order)
    if missing:
        raise ValueError(f"models {sorted(missing)} are not in the model order {list(model_order)}")
    if "edge" not in candidates:
        candidates = candidates.assign(edge=np.nan)
    ranked = candidates.assign(score=selection_score(candidates, edge_power), _order=candidates["model"].map(order))
    ranked = ranked.sort_values(["score", "JF", "J", "_order"], ascending=[False, False, False, True], kind="stable")
    ranked = ranked.drop(columns="_order")
    return ranked.assign(rank=np.arange(1, len(ranked) + 1), chosen=(np.arange(len(ranked)) == 0).astype(int))


def select(scores: pd.DataFrame, model_order: Sequence[str], video: str, edge_power: float) -> pd.DataFrame:
    """Per-video and per-object choices from one video's pseudo-label scores.

    ``scores`` has one row per (model, object) with J, F, JF (and ``edge``) against
    the pseudo-labels (the ``reference == "pseudo"`` rows of the score table).
    """
    if scores.empty:
        raise ValueError(f"video {video!r}: no pseudo-label scores to select from")
    if "edge" not in scores:
        scores = scores.assign(edge=np.nan)
    per_video = scores.groupby("model", sort=False)[["J", "F", "JF", "edge"]].mean().reset_index()
    parts = [rank_candidates(per_video, model_order, edge_power).assign(level="video", object=0)]
    for obj, group in scores.groupby("object", sort=True):
        ranked = rank_candidates(group[["model", "J", "F", "JF", "edge"]], model_order, edge_power)
        parts.append(ranked.assign(level="object", object=int(obj)))
    table = pd.concat(parts, ignore_index=True).assign(video=video)
    return table[SELECTION_COLUMNS]


PRIOR_COLUMNS = ["model", "score", "videos", "rank", "chosen"]


def dataset_prior(video_scores: Sequence[pd.DataFrame], model_order: Sequence[str], edge_power: float) -> pd.DataFrame:
    """The dataset prior (module docstring) from every video's pseudo-label score rows: per model its mean
    video-level selection score, ranked (ties: config order); ``chosen`` marks the prior model."""
    parts = []
    for scores in video_scores:
        pseudo = scores[scores["reference"] == "pseudo"]
        video = str(pseudo["video"].iloc[0]) if "video" in pseudo and len(pseudo) else ""
        table = select(pseudo, model_order, video, edge_power)
        parts.append(table[table["level"] == "video"][["model", "score"]])
    if not parts:
        raise ValueError("the dataset prior needs the scores of at least one video")
    means = pd.concat(parts).groupby("model", sort=False)["score"].agg(["mean", "count"]).reset_index()
    means = means.rename(columns={"mean": "score", "count": "videos"})
    order = {name: i for i, name in enumerate(model_order)}
    means = means.assign(_order=means["model"].map(order)).sort_values(["score", "_order"], ascending=[False, True],
                                                                        kind="stable").drop(columns="_order")
    return means.assign(rank=np.arange(1, len(means) + 1), chosen=(np.arange(len(means)) == 0).astype(int))[PRIOR_COLUMNS]


def apply_prior(table: pd.DataFrame, prior_model: str, margin: float) -> pd.DataFrame:
    """Move the video-level choice to ``prior_model`` unless the video's best scores ``1 + margin`` times it."""
    level = table["level"] == "video"
    video_rows = table[level]
    best = video_rows[video_rows["rank"] == 1].iloc[0]
    prior_rows = video_rows[video_rows["model"] == prior_model]
    if prior_rows.empty:
        raise ValueError(f"the prior model {prior_model!r} has no score on video {best['video']!r}")
    keep_own = float(best["score"]) >= (1 + margin) * float(prior_rows["score"].iloc[0]) or best["model"] == prior_model
    chosen = best["model"] if keep_own else prior_model
    table = table.copy()
    table.loc[level, "chosen"] = (table.loc[level, "model"] == chosen).astype(int)
    return table


def chosen_models(selection: pd.DataFrame) -> tuple[str, dict[int, tuple[str, float]]]:
    """(per-video model, object -> (per-object model, its selection score)) from a selection table."""
    chosen = selection[selection["chosen"] == 1]
    video_model = str(chosen[chosen["level"] == "video"]["model"].iloc[0])
    per_object = {int(r.object): (str(r.model), float(r.score)) for r in chosen[chosen["level"] == "object"].itertuples()}
    return video_model, per_object


def compose_per_object(
    per_object: Mapping[int, tuple[str, float]],
    label_maps: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Compose one frame from each object's chosen model (overlap rule in the module docstring)."""
    shape = next(iter(label_maps.values())).shape
    out = np.zeros(shape, np.uint8)
    # claim in increasing priority so the strongest claim is written last
    priority = sorted(per_object.items(), key=lambda item: (item[1][1], -item[0]))
    for obj, (model, _) in priority:
        out[label_maps[model] == obj] = obj
    return out


def per_object_frames(
    per_object: Mapping[int, tuple[str, float]],
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    frames: Sequence[str],
) -> Iterator[tuple[str, np.ndarray]]:
    """Stream the per-object composition of every frame."""
    needed = sorted({model for model, _ in per_object.values()})
    for frame in frames:
        maps = {m: read_label_map(Path(mask_dirs[m]) / f"{frame}.png", allow_greyscale=True) for m in needed}
        yield frame, compose_per_object(per_object, maps)


OUTCOME_COLUMNS = ["video", "strategy", "object", "model", "used", "pseudo_JF", "gt_J", "gt_F", "gt_JF"]


def run_selection(
    video: str,
    scores: pd.DataFrame,
    model_order: Sequence[str],
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    final_dir: str | os.PathLike[str],
    settings: SelectSettings,
    pseudo_dir: str | os.PathLike[str] | None = None,
    gt_dir: str | os.PathLike[str] | None = None,
    prior_model: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Choose, write the final masks of ``settings.strategy`` and measure every strategy.

    Returns the selection table (every candidate, see the module docstring) and
    the outcome table: per strategy and object the chosen model, its pseudo-label
    J&F and, with ground truth, the true J, F and J&F of the strategy's masks
    (for ``object``, of the composed masks, overlaps resolved; for ``vote``, of
    the pseudo-labels in ``pseudo_dir``).
    """
    strategy, variant = settings.strategy, settings.variant
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown selection strategy {strategy!r}; choose one of {STRATEGIES}")
    if strategy == "vote" and pseudo_dir is None:
        raise ValueError("strategy 'vote' writes the pseudo-labels as the final masks: give their folder")
    pseudo = scores[scores["reference"] == "pseudo"]
    table = select(pseudo, model_order, video, settings.edge_power)
    if settings.prior_margin is not None:
        if prior_model is None:
            raise ValueError("pgmr.prior_margin is set: the selection needs the dataset prior (prior.csv)")
        table = apply_prior(table, prior_model, settings.prior_margin)
    video_model, per_object = chosen_models(table)
    source = Path(mask_dirs[video_model])
    frames = sorted((p.stem for p in source.glob("*.png") if not p.name.startswith(".")), key=int)
    palette = read_palette(source / f"{frames[0]}.png")
    with atomic_dir(final_dir) as tmp:
        if strategy in ("video", "vote"):
            folder = source if strategy == "video" else Path(pseudo_dir)  # type: ignore[arg-type]
            for frame in frames:
                shutil.copyfile(folder / f"{frame}.png", tmp / f"{frame}.png")
        else:
            for frame, labels in per_object_frames(per_object, mask_dirs, frames):
                write_label_map(tmp / f"{frame}.png", labels, palette)

    gt_rows: dict[tuple[str, int], tuple[float, float, float]] = {}
    objects = tuple(sorted(per_object))
    if gt_dir is not None:
        gt = scores[scores["reference"] == "gt"]
        for row in gt[gt["model"] == video_model].itertuples():
            gt_rows["video", int(row.object)] = (row.J, row.F, row.JF)
        scored = frames[1:-1]
        pairs = (
            (read_label_map(Path(gt_dir) / f"{f}.png"), labels, f"{video}/{f} (per-object composition)")
            for f, labels in per_object_frames(per_object, mask_dirs, scored)
        )
        for row in score_arrays(pairs, objects, video, scored, variant).rows():
            gt_rows["object", int(row["object"])] = (row["J"], row["F"], row["JF"])
        if pseudo_dir is not None:
            for row in score_video(gt_dir, pseudo_dir, video, variant, objects).rows():
                gt_rows["vote", int(row["object"])] = (row["J"], row["F"], row["JF"])
    nan3 = (float("nan"),) * 3
    rows = []
    pseudo_jf = pseudo.set_index(["model", "object"])["JF"]
    for obj in objects:
        rows.append((video, "video", obj, video_model, int(strategy == "video"), float(pseudo_jf[video_model, obj]),
                     *gt_rows.get(("video", obj), nan3)))
    for obj, (model, _) in sorted(per_object.items()):
        rows.append((video, "object", obj, model, int(strategy == "object"), float(pseudo_jf[model, obj]),
                     *gt_rows.get(("object", obj), nan3)))
    if pseudo_dir is not None:
        for obj in objects:
            rows.append((video, "vote", obj, VOTE, int(strategy == "vote"), float("nan"), *gt_rows.get(("vote", obj), nan3)))
    return table, pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
