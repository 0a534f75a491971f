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

**Tiers** (``pgmr.baselines``, beyond STSeg): the weight-free built-in models
(a model's ``baseline``: ``copy``, ``flow``, ``global``, ``appearance``) agree
with each other and hug image edges, so on real video their agreement and edge
alignment can out-score one trained model that is far better.  With
``fallback`` (the default) they are candidates only when no other model is
configured: every choice (per video, per object, the prior's model) is the best
*candidate*, and the fusion's voters are the anchor's tier
(:mod:`stseg.mask_fusion`).  They still vote for the fused boxes and the
pseudo-labels.  ``equal`` treats them like any model (STSeg's rule).

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
``edge`` (edge alignment), ``score`` (the selection score), ``rank`` (1 = the
highest score) and ``chosen`` (0/1: the best-ranked candidate, see **Tiers**).
``outcome/<video>.csv``: per strategy and object the model used
(``pseudo-label`` for the vote), its pseudo-label J&F, with ground truth the
true J, F and J&F of that strategy's final masks, and on the ``fuse`` rows what
the fusion did to the anchor's mask of the object over the video, in pixels:
``kept``, ``removed`` and ``added``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .annotation import Annotation
from .files import atomic_dir
from .mask_fusion import FusionChanges, fuse_video, reliabilities
from .masks import read_label_map, read_palette, write_label_map
from .scoring import score_models
from .settings import ScoreSettings, SelectSettings

__all__ = ["BASELINES", "STRATEGIES", "answer_candidates", "apply_prior", "choose_by_evidence", "dataset_prior", "rank_candidates",
           "select", "compose_per_object", "run_selection"]

STRATEGIES = ("video", "object", "vote", "fuse", "auto")
BASELINES = ("fallback", "equal")
SELECTION_COLUMNS = ["video", "level", "object", "model", "J", "F", "JF", "edge", "score", "rank", "chosen"]
VOTE = "pseudo-label"


def selection_score(candidates: pd.DataFrame, edge_power: float) -> pd.Series:
    """``JF · (edge / max edge)^edge_power`` of each candidate (columns JF, edge); JF alone when the power is 0
    or no candidate has an edge alignment."""
    if edge_power == 0 or "edge" not in candidates or not (candidates["edge"].fillna(0) > 0).any():
        return candidates["JF"].astype(float)
    edge = candidates["edge"].fillna(0).clip(lower=0)
    return candidates["JF"] * (edge / edge.max()) ** edge_power


def answer_candidates(models: Sequence[str], baselines: Sequence[str], rule: str) -> list[str]:
    """The models that can be the answer (module docstring, **Tiers**): with ``rule="fallback"`` the models that are
    not baselines when there are any, else every model."""
    if rule not in BASELINES:
        raise ValueError(f"pgmr.baselines must be one of {BASELINES}, not {rule!r}")
    trained = [m for m in models if m not in set(baselines)]
    return trained if rule == "fallback" and trained else list(models)


def rank_candidates(candidates: pd.DataFrame, model_order: Sequence[str], edge_power: float,
                    eligible: Sequence[str] | None = None) -> pd.DataFrame:
    """Sort candidates (columns model, J, F, JF, edge) best first with the documented tie-break; add ``score``,
    ``rank`` and ``chosen`` (the first row whose model is ``eligible``; default: every model is)."""
    order = {name: i for i, name in enumerate(model_order)}
    missing = set(candidates["model"]) - set(order)
    if missing:
        raise ValueError(f"models {sorted(missing)} are not in the model order {list(model_order)}")
    if "edge" not in candidates:
        candidates = candidates.assign(edge=np.nan)
    ranked = candidates.assign(score=selection_score(candidates, edge_power), _order=candidates["model"].map(order))
    ranked = ranked.sort_values(["score", "JF", "J", "_order"], ascending=[False, False, False, True], kind="stable")
    ranked = ranked.drop(columns="_order")
    allowed = ranked["model"].isin(list(model_order if eligible is None else eligible)).to_numpy()
    if not allowed.any():
        raise ValueError(f"none of the candidates {list(ranked['model'])} is eligible ({list(eligible or ())})")
    chosen = np.zeros(len(ranked), int)
    chosen[int(np.argmax(allowed))] = 1
    return ranked.assign(rank=np.arange(1, len(ranked) + 1), chosen=chosen)


def select(scores: pd.DataFrame, model_order: Sequence[str], video: str, edge_power: float,
           eligible: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-video and per-object choices from one video's pseudo-label scores; every model is ranked, the choice is
    the best ``eligible`` one (default: any).

    ``scores`` has one row per (model, object) with J, F, JF (and ``edge``) against
    the pseudo-labels (the ``reference == "pseudo"`` rows of the score table).
    """
    if scores.empty:
        raise ValueError(f"video {video!r}: no pseudo-label scores to select from")
    if "edge" not in scores:
        scores = scores.assign(edge=np.nan)
    per_video = scores.groupby("model", sort=False)[["J", "F", "JF", "edge"]].mean().reset_index()
    parts = [rank_candidates(per_video, model_order, edge_power, eligible).assign(level="video", object=0)]
    for obj, group in scores.groupby("object", sort=True):
        ranked = rank_candidates(group[["model", "J", "F", "JF", "edge"]], model_order, edge_power, eligible)
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


def prior_model(prior: pd.DataFrame, eligible: Sequence[str]) -> str:
    """The dataset prior's model among ``eligible``: the best-ranked of them in ``prior.csv``."""
    rows = prior[prior["model"].isin(list(eligible))].sort_values("rank", kind="stable")
    if rows.empty:
        raise ValueError(f"the dataset prior ranks none of the candidates {list(eligible)}")
    return str(rows["model"].iloc[0])


def apply_prior(table: pd.DataFrame, prior_model: str, margin: float) -> pd.DataFrame:
    """Move the video-level choice to ``prior_model`` unless the video's choice scores ``1 + margin`` times it."""
    level = table["level"] == "video"
    video_rows = table[level]
    best = video_rows[video_rows["chosen"] == 1].iloc[0]
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


OUTCOME_COLUMNS = ["video", "strategy", "object", "model", "used", "pseudo_JF", "gt_J", "gt_F", "gt_JF", "kept", "removed",
                   "added"]
#: the candidates ``auto`` chooses between; the first is its default answer
AUTO_CANDIDATES = ("fuse", "video", "object")


def choose_by_evidence(evidence: pd.DataFrame, margin: float, edge_power: float) -> pd.DataFrame:
    """``auto``'s choice (module docstring) from each candidate's pseudo-label rows (columns ``model`` = the
    candidate, ``object``, J, F, JF, ``edge``): one row per candidate with ``score``, ``rank`` and ``chosen``."""
    per_candidate = evidence.groupby("model", sort=False)[["J", "F", "JF", "edge"]].mean().reset_index()
    order = [c for c in AUTO_CANDIDATES if c in set(per_candidate["model"])]
    ranked = rank_candidates(per_candidate, order, edge_power)
    default = ranked[ranked["model"] == order[0]].iloc[0]
    best = ranked.iloc[0]
    chosen = best["model"] if float(best["score"]) >= (1 + margin) * float(default["score"]) else order[0]
    return ranked.assign(chosen=(ranked["model"] == chosen).astype(int))


def _frames_of(folder: Path) -> list[str]:
    return sorted((p.stem for p in folder.glob("*.png") if not p.name.startswith(".")), key=int)


def _write_frames(folder: Path, frames: Iterator[tuple[str, np.ndarray]], palette: list[int] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, labels in frames:
        write_label_map(folder / f"{frame}.png", labels, palette)


def run_selection(
    video: str,
    scores: pd.DataFrame,
    model_order: Sequence[str],
    mask_dirs: Mapping[str, str | os.PathLike[str]],
    final_dir: str | os.PathLike[str],
    settings: SelectSettings,
    pseudo_dir: str | os.PathLike[str] | None = None,
    gt_dir: str | os.PathLike[str] | None = None,
    prior: pd.DataFrame | None = None,
    voters: Sequence[str] | None = None,
    frame_files: Sequence[str | os.PathLike[str]] = (),
    annotation: Annotation | None = None,
    baselines: Sequence[str] = (),
    measure: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Choose, write the final masks of ``settings.strategy`` and measure every strategy.

    ``prior``: the dataset prior's table (``prior.csv``): its chosen model with ``prior_margin``, its scores as
    the fusion's reliabilities.  ``voters``: the voting models (``pgmr.models``; default: every model), the
    fusion's voters.  ``frame_files``: the video's JPEGs, for the edge alignment of ``auto``'s candidates.
    ``baselines``: the weight-free models among ``model_order`` (module docstring, **Tiers**).  ``measure``: score
    every strategy's masks against the pseudo-labels (and the ground truth); off, only the answer is written.

    Returns the selection table (every candidate, see the module docstring) and
    the outcome table: per strategy and object the chosen model, its pseudo-label
    J&F and, with ground truth, the true J, F and J&F of the strategy's masks
    (for ``object``, of the composed masks, overlaps resolved; for ``vote``, of
    the pseudo-labels in ``pseudo_dir``; for ``fuse`` and ``auto``, of their masks).
    """
    strategy, variant = settings.strategy, settings.variant
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown selection strategy {strategy!r}; choose one of {STRATEGIES}")
    if strategy in ("vote", "auto") and pseudo_dir is None:
        raise ValueError(f"strategy {strategy!r} needs the pseudo-labels: give their folder")
    voters = list(model_order if voters is None else voters)
    eligible = answer_candidates(model_order, baselines, settings.baselines)
    pseudo = scores[scores["reference"] == "pseudo"]
    table = select(pseudo, model_order, video, settings.edge_power, eligible)
    if settings.prior_margin is not None:
        if prior is None:
            raise ValueError("pgmr.prior_margin is set: the selection needs the dataset prior (prior.csv)")
        table = apply_prior(table, prior_model(prior, eligible), settings.prior_margin)
    video_model, per_object = chosen_models(table)
    source = Path(mask_dirs[video_model])
    frames = _frames_of(source)
    palette = read_palette(source / f"{frames[0]}.png")
    objects = tuple(sorted(per_object))
    can_fuse = settings.fuse_reliability != "prior" or prior is not None
    if strategy in ("fuse", "auto") and not can_fuse:
        raise ValueError(f"strategy {strategy!r} with pgmr.fuse_reliability 'prior' needs the dataset prior (prior.csv)")
    measure = measure and pseudo_dir is not None  # every strategy against the pseudo-labels (and the truth, given)
    folders: dict[str, Path] = {"video": source}
    if pseudo_dir is not None:
        folders["vote"] = Path(pseudo_dir)
    final_dir = Path(final_dir)
    # every candidate is made inside the answer's own partial folder (stseg.files.atomic_dir), so that a killed job
    # leaves nothing but that partial, which the next writer of the answer (or the next run) removes
    with atomic_dir(final_dir) as answer:
        scratch = answer / ".candidates"
        if strategy in ("object", "auto") or measure:
            folders["object"] = scratch / "object"
            _write_frames(folders["object"], per_object_frames(per_object, mask_dirs, frames), palette)
        changes = None
        if (strategy in ("fuse", "auto") or measure) and can_fuse and voters:
            tier = [m for m in voters if m != video_model and (settings.baselines == "equal"
                                                              or (m in baselines) == (video_model in baselines))]
            weights = reliabilities([video_model, *tier], prior, settings.fuse_reliability,
                                    pseudo.groupby("model")["JF"].mean().to_dict())
            folders["fuse"] = scratch / "fuse"
            changes = FusionChanges(objects)
            fused = fuse_video(video_model, mask_dirs, weights, objects, frames, settings.fuse_level,
                               settings.fuse_support, settings.fuse_tolerance, settings.fuse_add, changes)
            _write_frames(folders["fuse"], fused, palette)
        candidates = [c for c in AUTO_CANDIDATES if c in folders]
        evidence = pd.DataFrame()
        auto_choice = None
        if pseudo_dir is not None and (strategy == "auto" or measure):
            evidence = score_models(video, {c: folders[c] for c in folders}, pseudo_dir,
                                    ScoreSettings(variant, settings.absent), gt_dir, frame_files, annotation)
            if "fuse" in folders:
                own = evidence[(evidence["reference"] == "pseudo") & evidence["model"].isin(candidates)]
                auto = choose_by_evidence(own, settings.auto_margin, settings.edge_power)
                auto_choice = str(auto[auto["chosen"] == 1]["model"].iloc[0])
                table = pd.concat([table, auto.assign(level="strategy", object=0, video=video)[SELECTION_COLUMNS]],
                                  ignore_index=True)
        chosen = auto_choice if strategy == "auto" else strategy
        assert chosen is not None
        for frame in frames:
            shutil.copyfile(folders[chosen] / f"{frame}.png", answer / f"{frame}.png")
        shutil.rmtree(scratch, ignore_errors=True)
        return table, _outcome(video, strategy, auto_choice, objects, video_model, per_object, pseudo, scores, evidence,
                               pseudo_dir is not None, changes)


def _outcome(video: str, strategy: str, auto_choice: str | None, objects: Sequence[int], video_model: str,
             per_object: Mapping[int, tuple[str, float]], pseudo: pd.DataFrame, scores: pd.DataFrame,
             evidence: pd.DataFrame, has_vote: bool, changes: FusionChanges | None = None) -> pd.DataFrame:
    """The outcome table (module docstring) from the chosen models, the score table and the candidates' scores
    (``evidence``: :func:`stseg.scoring.score_models` of each candidate's masks, empty when not measured) and what
    the fusion changed (``changes``)."""
    nan3 = (float("nan"),) * 3
    truth: dict[tuple[str, int], tuple[float, float, float]] = {}
    measured: dict[tuple[str, int], float] = {}
    for row in evidence.itertuples() if not evidence.empty else ():
        if row.reference == "gt":
            truth[str(row.model), int(row.object)] = (row.J, row.F, row.JF)
        else:
            measured[str(row.model), int(row.object)] = float(row.JF)
    gt = scores[scores["reference"] == "gt"]
    for row in gt[gt["model"] == video_model].itertuples():
        truth["video", int(row.object)] = (row.J, row.F, row.JF)
    pseudo_jf = pseudo.set_index(["model", "object"])["JF"]
    rows = []
    for obj in objects:
        rows.append((video, "video", obj, video_model, int(strategy == "video"), float(pseudo_jf[video_model, obj]),
                     *truth.get(("video", obj), nan3), *nan3))
    for obj, (model, _) in sorted(per_object.items()):
        rows.append((video, "object", obj, model, int(strategy == "object"), float(pseudo_jf[model, obj]),
                     *truth.get(("object", obj), nan3), *nan3))
    if has_vote:
        for obj in objects:
            rows.append((video, "vote", obj, VOTE, int(strategy == "vote"), float("nan"), *truth.get(("vote", obj), nan3),
                         *nan3))
    if strategy == "fuse" or auto_choice is not None:
        for obj in objects:
            done = changes.of(obj) if changes is not None else nan3
            rows.append((video, "fuse", obj, video_model, int(strategy == "fuse"), measured.get(("fuse", obj), float("nan")),
                         *truth.get(("fuse", obj), nan3), *done))
    if auto_choice is not None:
        for obj in objects:
            rows.append((video, "auto", obj, auto_choice, int(strategy == "auto"), measured.get((auto_choice, obj), float("nan")),
                         *truth.get((auto_choice, obj), nan3), *nan3))
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
