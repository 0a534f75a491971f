"""stseg.selection: the final answer per video and per object; hand-made videos where the vote is wrong."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from stseg.boxes import video_boxes
from stseg.dataset import list_frames
from stseg.fusion import fuse_boxes
from stseg.masks import write_label_map
from stseg.pseudolabel import build_pseudo_labels
from stseg.scoring import score_models
from stseg.selection import apply_prior, compose_per_object, dataset_prior, rank_candidates, run_selection, select
from stseg.settings import FuseSettings, PseudoLabelSettings, ScoreSettings, SelectSettings, defaults


# ------------------------------------------------------------------ selection
def scores_table(rows):
    return pd.DataFrame(rows, columns=["model", "object", "J", "F", "JF"])


def test_selection_per_video_and_per_object():
    scores = scores_table([
        ("a", 1, 0.9, 0.9, 0.9), ("a", 2, 0.2, 0.2, 0.2),
        ("b", 1, 0.5, 0.5, 0.5), ("b", 2, 0.7, 0.7, 0.7),
    ])
    table = select(scores, ["a", "b"], "v", 0.0)
    chosen = table[table.chosen == 1]
    assert chosen[chosen.level == "video"]["model"].tolist() == ["b"]  # 0.6 > 0.55
    assert chosen[chosen.level == "object"][["object", "model"]].values.tolist() == [[1, "a"], [2, "b"]]


def test_tie_break_prefers_higher_j_then_config_order():
    tied = scores_table([("a", 1, 0.5, 0.7, 0.6), ("b", 1, 0.6, 0.6, 0.6), ("c", 1, 0.6, 0.6, 0.6)])
    ranked = rank_candidates(tied, ["c", "b", "a"], 0.0)
    assert ranked["model"].tolist() == ["c", "b", "a"]
    ranked = rank_candidates(tied, ["a", "b", "c"], 0.0)
    assert ranked["model"].tolist() == ["b", "c", "a"]


def test_per_object_composition_overlap_rule():
    a = np.array([[1, 1, 2, 0]], np.uint8)
    b = np.array([[0, 2, 2, 2]], np.uint8)
    out = compose_per_object({1: ("a", 0.9), 2: ("b", 0.8)}, {"a": a, "b": b})
    assert out.tolist() == [[1, 1, 2, 2]]  # pixel 1 claimed by both: object 1 scored higher
    out = compose_per_object({1: ("a", 0.7), 2: ("b", 0.8)}, {"a": a, "b": b})
    assert out.tolist() == [[1, 2, 2, 2]]


H, W, T = 90, 160, 12


def textured_background(rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(90, 6, (H, W, 3))
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 3), 0, 255).astype(np.uint8)


def write_video(root: Path, positions: list[tuple[int, int] | None]) -> tuple[Path, Path, list[np.ndarray]]:
    """A bright square moving over a smooth background (None: it is out of the frame); returns the frames,
    the annotation and the true label maps."""
    rng = np.random.default_rng(0)
    frames, annotations = root / "JPEGImages" / "v", root / "Annotations" / "v"
    frames.mkdir(parents=True)
    annotations.mkdir(parents=True)
    truth = []
    for t, position in enumerate(positions):
        image = textured_background(rng)
        labels = np.zeros((H, W), np.uint8)
        if position is not None:
            y, x = position
            image[y : y + 24, x : x + 24] = (40, 200, 230)
            labels[y : y + 24, x : x + 24] = 1
        cv2.imwrite(str(frames / f"{t:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        truth.append(labels)
    write_label_map(annotations / "00000.png", truth[0])
    return frames, annotations / "00000.png", truth


def write_model(root: Path, name: str, maps: list[np.ndarray]) -> Path:
    folder = root / "masks" / name / "v"
    for t, labels in enumerate(maps):
        write_label_map(folder / f"{t:05d}.png", labels)
    return folder


def choose(root: Path, models: dict[str, list[np.ndarray]], annotation: Path, frames: Path, **changes) -> str:
    """Every PGMR stage on the hand-made video; the per-video choice with ``changes`` to the default settings."""
    dirs = {name: write_model(root, name, maps) for name, maps in models.items()}
    objects = (1,)
    fuse = defaults(FuseSettings)
    fused = fuse_boxes({m: video_boxes(d, objects) for m, d in dirs.items()}, fuse.min_votes, fuse.box_weighting)
    pseudo = root / "pseudo" / "v"
    build_pseudo_labels(dirs, annotation, fused, pseudo, defaults(PseudoLabelSettings))
    score_changes = {k: v for k, v in changes.items() if k == "absent"}
    scores = score_models("v", dirs, pseudo, defaults(ScoreSettings, **score_changes), None, list_frames(frames))
    select_changes = {k: v for k, v in changes.items() if k != "absent"}
    settings = defaults(SelectSettings, **select_changes)
    prior = dataset_prior([scores.assign(video="v")], list(dirs), settings.edge_power)
    table, _ = run_selection("v", scores, list(dirs), dirs, root / "final" / "v", settings, pseudo, None, prior)
    chosen = table[(table["level"] == "video") & (table["chosen"] == 1)]
    return str(chosen["model"].iloc[0])


STSEG_RULE = {"edge_power": 0.0, "prior_margin": None, "absent": "score"}


def test_two_wrong_models_that_agree_do_not_outvote_the_right_one(tmp_path):
    positions = [(30, 10 + 9 * t) for t in range(T)]
    frames, annotation, truth = write_video(tmp_path / "data", positions)
    frozen = [truth[0]] * T  # both wrong models keep the first mask: they agree with each other everywhere
    models = {"frozen-a": frozen, "frozen-b": [m.copy() for m in frozen], "right": truth}
    assert choose(tmp_path / "stseg", models, annotation, frames, **STSEG_RULE) == "frozen-a"  # the vote alone
    assert choose(tmp_path / "default", models, annotation, frames) == "right"  # defaults: edge alignment


def test_nothing_after_the_object_left_and_came_back_is_not_rewarded(tmp_path):
    positions = [(30, 20 + 8 * t) for t in range(4)] + [None] * 3 + [(30, 90 - 8 * t) for t in range(5)]
    frames, annotation, truth = write_video(tmp_path / "data", positions)
    lost = [m if t < 4 else np.zeros_like(m) for t, m in enumerate(truth)]  # loses it at the exit, never finds it
    models = {"lost-a": lost, "lost-b": [m.copy() for m in lost], "right": truth}
    assert choose(tmp_path / "stseg", models, annotation, frames, **STSEG_RULE) == "lost-a"
    assert choose(tmp_path / "default", models, annotation, frames) == "right"


def test_the_dataset_prior_holds_unless_a_video_is_clearly_better():
    rows = []
    for video, scores in {"a": {"m1": 0.9, "m2": 0.5}, "b": {"m1": 0.86, "m2": 0.85}, "c": {"m1": 0.3, "m2": 0.9}}.items():
        rows += [{"video": video, "reference": "pseudo", "model": m, "object": 1, "J": s, "F": s, "JF": s, "edge": 1.0}
                 for m, s in scores.items()]
    scores = pd.DataFrame(rows)
    prior = dataset_prior([g for _, g in scores.groupby("video")], ["m1", "m2"], 2.0)
    assert prior["model"].tolist() == ["m2", "m1"] and prior["videos"].tolist() == [3, 3]  # 0.75 vs 0.687
    from stseg.selection import select

    for video, expected in {"a": "m1", "b": "m2", "c": "m2"}.items():
        table = apply_prior(select(scores[scores.video == video], ["m1", "m2"], video, 2.0), "m2", 0.25)
        assert table[(table.level == "video") & (table.chosen == 1)]["model"].item() == expected, video


# ------------------------------------------------------------------ fuse and auto
def test_auto_keeps_the_fusion_unless_another_candidate_is_clearly_better():
    from stseg.selection import choose_by_evidence

    def evidence(fuse, video, obj):
        return pd.DataFrame([{"model": m, "object": 1, "J": s, "F": s, "JF": s, "edge": 1.0}
                             for m, s in (("fuse", fuse), ("video", video), ("object", obj))])

    def chosen(table):
        return table[table.chosen == 1]["model"].item()

    assert chosen(choose_by_evidence(evidence(0.6, 0.7, 0.5), 0.25, 2.0)) == "fuse"  # 0.7 < 1.25 x 0.6
    assert chosen(choose_by_evidence(evidence(0.6, 0.7, 0.8), 0.25, 2.0)) == "object"  # 0.8 >= 0.75
    assert chosen(choose_by_evidence(evidence(0.6, 0.7, 0.5), 0.0, 2.0)) == "video"  # no margin: the best


def test_fuse_removes_a_distractor_and_every_strategy_is_measured(tmp_path):
    positions = [(30, 10 + 9 * t) for t in range(T)]
    frames, annotation, truth = write_video(tmp_path / "data", positions)
    flicker = []  # right, but on every third frame it adds a far-away blob (a per-frame model's distractor)
    for t, labels in enumerate(truth):
        labels = labels.copy()
        if t % 3 == 1:
            labels[70:84, 140:154] = 1
        flicker.append(labels)
    # two models whose outlines are a pixel off: one a little too large, one a little too small
    coarse = [cv2.dilate(m, np.ones((3, 3), np.uint8)) if t else m for t, m in enumerate(truth)]
    shrunk = [cv2.erode(m, np.ones((3, 3), np.uint8)) if t else m for t, m in enumerate(truth)]
    models = (("flicker", flicker), ("coarse", coarse), ("shrunk", shrunk))
    dirs = {name: write_model(tmp_path / "stseg", name, maps) for name, maps in models}
    gt_dir = tmp_path / "gt"
    for t, labels in enumerate(truth):
        write_label_map(gt_dir / f"{t:05d}.png", labels)
    pseudo = tmp_path / "stseg" / "pseudo" / "v"
    build_pseudo_labels(dirs, annotation, None, pseudo, defaults(PseudoLabelSettings, use_boxes=False))
    scores = score_models("v", dirs, pseudo, defaults(ScoreSettings), gt_dir, list_frames(frames)).assign(video="v")
    prior = dataset_prior([scores], list(dirs), 2.0)
    final = tmp_path / "final" / "v"
    # equal reliabilities (on this synthetic video the edge alignment makes the sharp anchor count more than both
    # others together, and an anchor that reliable keeps every region: tests/unit/test_mask_fusion.py)
    settings = defaults(SelectSettings, strategy="fuse", prior_margin=None, fuse_reliability="uniform")
    table, outcome = run_selection("v", scores, list(dirs), dirs, final, settings, pseudo, gt_dir, prior,
                                   list(dirs), list_frames(frames))
    from stseg.masks import read_label_map

    anchor = outcome[outcome.strategy == "video"]["model"].item()
    assert anchor == "flicker"  # the sharper outline wins the per-video pick
    assert all(np.array_equal(read_label_map(final / f"{t:05d}.png"), truth[t]) for t in range(T))  # blobs gone
    by = outcome.set_index("strategy")
    assert set(by.index) == {"video", "object", "vote", "fuse", "auto"}
    assert by.loc["fuse", "used"] == 1 and by.loc["fuse", "gt_JF"] == pytest.approx(1.0)
    assert by.loc["fuse", "gt_JF"] > by.loc["video", "gt_JF"]
    strategies = table[table.level == "strategy"]
    assert set(strategies["model"]) == {"fuse", "video", "object"} and strategies["chosen"].sum() == 1


# ------------------------------------------------------------------ tiers: one trained model beside the built-ins
def test_one_trained_model_beside_weak_ones_that_agree_on_a_distractor_is_the_answer(tmp_path):
    # three weight-free models follow a distractor from frame 4 on (they agree with each other, and the distractor's
    # outline is as sharp as the object's); one trained model stays on the object.  By agreement the weak ones win
    # the video; set apart as baselines they are neither the answer nor voters of the fusion.
    positions = [(30, 10 + 9 * t) for t in range(T)]
    frames, annotation, truth = write_video(tmp_path / "data", positions)
    for t in range(4, T):  # a second bright square (the distractor) the weak models jump to
        image = cv2.imread(str(frames / f"{t:05d}.jpg"))
        image[60:84, 120:144] = (40, 200, 230)
        cv2.imwrite(str(frames / f"{t:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    jumped = [m if t < 4 else square_at((60, 120)) for t, m in enumerate(truth)]
    weak = {name: [m.copy() for m in jumped] for name in ("flow", "global", "appearance")}
    models = {**weak, "trained": truth}
    dirs = {name: write_model(tmp_path / "stseg", name, maps) for name, maps in models.items()}
    fuse = defaults(FuseSettings)
    fused = fuse_boxes({m: video_boxes(d, (1,)) for m, d in dirs.items()}, fuse.min_votes, fuse.box_weighting)
    pseudo = tmp_path / "stseg" / "pseudo" / "v"
    build_pseudo_labels(dirs, annotation, fused, pseudo, defaults(PseudoLabelSettings))
    scores = score_models("v", dirs, pseudo, defaults(ScoreSettings), None, list_frames(frames)).assign(video="v")

    def answer(**changes) -> tuple[str, list[np.ndarray]]:
        settings = defaults(SelectSettings, **changes)
        prior = dataset_prior([scores], list(dirs), settings.edge_power)
        final = tmp_path / "final" / str(sorted(changes.items()))
        table, _ = run_selection("v", scores, list(dirs), dirs, final, settings, pseudo, None, prior, list(dirs),
                                 list_frames(frames), baselines=list(weak))
        from stseg.masks import read_label_map

        chosen = table[(table.level == "video") & (table.chosen == 1)]["model"].item()
        return chosen, [read_label_map(final / f"{t:05d}.png") for t in range(T)]

    chosen, masks = answer(baselines="equal")
    assert chosen in weak  # the weak models' agreement outvotes the trained one
    chosen, masks = answer()  # the default: baselines are a fallback
    assert chosen == "trained" and all(np.array_equal(m, truth[t]) for t, m in enumerate(masks))
    for strategy in ("video", "object", "auto"):
        chosen, masks = answer(strategy=strategy)
        assert chosen == "trained" and all(np.array_equal(m, truth[t]) for t, m in enumerate(masks)), strategy


def square_at(position: tuple[int, int]) -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    y, x = position
    labels[y:y + 24, x:x + 24] = 1
    return labels


def test_the_answer_candidates_and_the_priors_model_among_them():
    from stseg.selection import answer_candidates, prior_model

    assert answer_candidates(["copy", "flow", "sam2", "osvos"], ["copy", "flow"], "fallback") == ["sam2", "osvos"]
    assert answer_candidates(["copy", "flow"], ["copy", "flow"], "fallback") == ["copy", "flow"]  # no trained model
    assert answer_candidates(["copy", "sam2"], ["copy"], "equal") == ["copy", "sam2"]
    with pytest.raises(ValueError, match="pgmr.baselines"):
        answer_candidates(["a"], [], "first")
    prior = pd.DataFrame({"model": ["appearance", "flow", "dino"], "score": [0.5, 0.4, 0.3], "rank": [1, 2, 3]})
    assert prior_model(prior, ["dino"]) == "dino" and prior_model(prior, ["flow", "dino"]) == "flow"
    ranked = rank_candidates(scores_table([("a", 1, 0.9, 0.9, 0.9), ("b", 1, 0.5, 0.5, 0.5)]), ["a", "b"], 0.0, ["b"])
    assert ranked["model"].tolist() == ["a", "b"] and ranked["chosen"].tolist() == [0, 1]  # ranked, b chosen


def test_the_paper_config_is_stsegs_rule_and_the_mose_config_the_same_setup():
    import yaml
    from snakemake.utils import validate

    from stseg.settings import from_config
    from stseg.workflow import load_schema

    configs = {}
    for name in ("stseg-paper", "stseg-mose"):
        config = yaml.safe_load((Path(__file__).parents[2] / "configs" / f"{name}.yaml").read_text())
        validate(config, schema=str(load_schema()))
        configs[name] = config
    paper, mose = (from_config(SelectSettings, configs[n]) for n in ("stseg-paper", "stseg-mose"))
    assert (paper.strategy, paper.edge_power, paper.prior_margin, paper.absent, paper.baselines) == \
        ("video", 0.0, None, "score", "equal")
    assert from_config(ScoreSettings, configs["stseg-paper"]).absent == "score"  # every frame scored
    assert mose == defaults(SelectSettings, variant="mose")  # stseg's default answer
    changed = {k for k in configs["stseg-paper"]["pgmr"] if configs["stseg-paper"]["pgmr"][k] != configs["stseg-mose"]["pgmr"].get(k)}
    assert changed == {"strategy", "edge_power", "prior_margin", "absent", "baselines"}
    assert {k: v for k, v in configs["stseg-paper"].items() if k != "pgmr"} == \
        {k: v for k, v in configs["stseg-mose"].items() if k != "pgmr"}
