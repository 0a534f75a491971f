"""stseg.summary: the pooled table, the per-video table, the final answers and where to look."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from stseg.selection import OUTCOME_COLUMNS
from stseg.summary import format_summary, summarize


def score_rows():
    """Two videos, models a and b; v1 has two objects, v2 one. (video, reference, model, object, J, F)."""
    rows = [
        ("v1", "pseudo", "a", 1, 0.9, 0.9), ("v1", "pseudo", "a", 2, 0.7, 0.7),
        ("v1", "pseudo", "b", 1, 0.5, 0.5), ("v1", "pseudo", "b", 2, 0.8, 0.8),
        ("v2", "pseudo", "a", 1, 0.4, 0.4), ("v2", "pseudo", "b", 1, 0.6, 0.6),
        ("v1", "gt", "a", 1, 0.8, 1.0), ("v1", "gt", "a", 2, 0.6, 0.6),
        ("v1", "gt", "b", 1, 0.4, 0.6), ("v1", "gt", "b", 2, 0.9, 0.9),
        ("v2", "gt", "a", 1, 0.3, 0.3), ("v2", "gt", "b", 1, 0.7, 0.9),
    ]
    table = pd.DataFrame(rows, columns=["video", "reference", "model", "object", "J", "F"])
    table["JF"] = (table["J"] + table["F"]) / 2
    return table


def outcomes():
    rows = [
        ("v1", "video", 1, "a", 1, 0.9, 0.8, 1.0, 0.9), ("v1", "video", 2, "a", 1, 0.7, 0.6, 0.6, 0.6),
        ("v2", "video", 1, "b", 1, 0.6, 0.7, 0.9, 0.8),
        ("v1", "object", 1, "a", 1, 0.9, 0.8, 1.0, 0.9), ("v1", "object", 2, "b", 1, 0.8, 0.9, 0.9, 0.9),
        ("v2", "object", 1, "b", 1, 0.6, 0.7, 0.9, 0.8),
    ]
    return pd.DataFrame(rows, columns=OUTCOME_COLUMNS[:9]).reindex(columns=OUTCOME_COLUMNS)


def test_per_video_and_pooled_values():
    per_video, overall = summarize(score_rows(), outcomes(), ["a", "b"])
    row = per_video.set_index(["video", "model"])
    assert row.loc[("v1", "a"), "pseudo_JF"] == pytest.approx(0.8) and row.loc[("v1", "a"), "gt_JF"] == pytest.approx(0.75)
    assert row.loc[("v1", "a"), "chosen_video"] == 1 and row.loc[("v1", "b"), "chosen_video"] == 0
    assert row.loc[("v1", "b"), "chosen_objects"] == "2" and row.loc[("v2", "b"), "chosen_objects"] == "1"
    pooled = overall.set_index("method")
    assert list(pooled.index) == ["a", "b", "selection:video", "selection:object", "oracle:video", "oracle:object"]
    # pooled over the 3 objects of both videos, as the official evaluation
    assert pooled.loc["a", "JF"] == pytest.approx((0.9 + 0.6 + 0.3) / 3) and pooled.loc["a", "objects"] == 3
    assert pooled.loc["selection:video", "JF"] == pytest.approx((0.9 + 0.6 + 0.8) / 3)
    assert pooled.loc["selection:object", "JF"] == pytest.approx((0.9 + 0.9 + 0.8) / 3)
    # oracle per video: v1 -> a (0.75 vs 0.7), v2 -> b; per object: the best of each
    assert pooled.loc["oracle:video", "JF"] == pytest.approx((0.9 + 0.6 + 0.8) / 3)
    assert pooled.loc["oracle:object", "JF"] == pytest.approx((0.9 + 0.9 + 0.8) / 3)
    assert math.isnan(pooled.loc["oracle:video", "pseudo_JF"])


def test_without_ground_truth_the_pooled_table_has_no_oracle():
    scores = score_rows()
    scores = scores[scores["reference"] == "pseudo"]
    plain = outcomes().assign(gt_J=float("nan"), gt_F=float("nan"), gt_JF=float("nan"))
    per_video, overall = summarize(scores, plain, ["a", "b"])
    assert per_video["gt_JF"].isna().all()
    assert not overall["method"].str.startswith("oracle").any()
    text = format_summary(per_video, overall)
    assert "*a 0.800" in text and "      -" in text  # chosen marked, missing values as dashes
    pooled = overall.set_index("method")
    assert pooled.loc["a", "objects"] == 3 and pooled.loc["selection:video", "objects"] == 3  # the objects scored


def test_without_ground_truth_the_summary_says_what_is_known():
    # a split without ground truth (MOSE valid, test): the pseudo-label J&F of every model and strategy, the choice
    # per video, what the fusion changed, and the final answer's estimate, labelled so
    scores = score_rows()
    scores = scores[scores["reference"] == "pseudo"]
    fuse = pd.DataFrame([("v1", "fuse", 1, "a", 1, 0.85, *[float("nan")] * 3, 900, 100, 20),
                         ("v1", "fuse", 2, "a", 1, 0.75, *[float("nan")] * 3, 400, 0, 0),
                         ("v2", "fuse", 1, "b", 1, 0.65, *[float("nan")] * 3, 500, 0, 5)], columns=OUTCOME_COLUMNS)
    plain = pd.concat([outcomes().assign(gt_J=float("nan"), gt_F=float("nan"), gt_JF=float("nan")), fuse],
                      ignore_index=True)
    per_video, overall = summarize(scores, plain, ["a", "b"])
    pooled = overall.set_index("method")
    assert pooled.loc["selection:fuse", "pseudo_JF"] == pytest.approx((0.85 + 0.75 + 0.65) / 3)
    assert pooled.loc["selection:fuse", "objects"] == 3 and pd.isna(pooled.loc["selection:fuse", "JF"])
    text = format_summary(per_video, overall, plain, "fuse")
    assert "no ground truth" in text
    assert "v1                   a; the fusion kept 1300 px of its masks, removed 100 (7.1%), added 20" in text
    assert "v2                   b; the fusion kept 500 px of its masks, removed 0 (0.0%), added 5" in text
    assert "selection:fuse" in text and "<- final answer" in text
    assert "estimated by its J&F against the pseudo-labels, 0.7500 (an estimate, not a score)" in text


def test_the_summary_names_where_to_look(tmp_path):
    from stseg.summary import where_to_look

    text = where_to_look(tmp_path / "results", ["my config.yaml"])
    assert f"{tmp_path / 'results' / 'report' / 'summary.html'}" in text
    assert f"{tmp_path / 'results' / 'submission.zip'}" in text
    assert f"snakemake --configfile 'my config.yaml' --report {tmp_path / 'results' / 'report.html'}" in text


def test_a_video_without_ground_truth_is_left_out_of_every_pooled_row_and_named():
    # v2 lost its ground truth (a PNG missing in the middle): every row pools v1's two objects, and the text says so
    scores = score_rows()
    scores = scores[~((scores["reference"] == "gt") & (scores["video"] == "v2"))]
    plain = outcomes()
    plain.loc[plain["video"] == "v2", ["gt_J", "gt_F", "gt_JF"]] = float("nan")
    per_video, overall = summarize(scores, plain, ["a", "b"])
    assert overall.set_index("method")["objects"].tolist() == [2] * len(overall)  # comparable rows
    text = format_summary(per_video, overall)
    assert "Pooled over the 2 objects of the videos with ground truth on every frame; without it (not scored, left out" in text
    assert text.rstrip().endswith("every row): v2.")
