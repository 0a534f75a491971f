"""The report's pieces: the first page, fixed model colours, the frames where the models disagree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stseg.masks import write_label_map
from stseg.report import disagreement_frames, model_colours, pooled_table, summary_page


def test_model_colours_follow_the_config_position():
    assert model_colours(["flow", "copy"]) == {"flow": "tab:blue", "copy": "tab:orange"}
    assert model_colours(["copy", "flow"])["flow"] == "tab:orange"  # by position, not by name or first appearance


def test_the_frames_shown_are_where_the_models_disagree(tmp_path):
    files = [tmp_path / "frames" / f"{t:05d}.jpg" for t in range(12)]
    a, b = tmp_path / "a", tmp_path / "b"
    for t in range(12):
        labels = np.zeros((20, 20), np.uint8)
        labels[5:10, 5:10] = 1
        write_label_map(a / f"{t:05d}.png", labels)
        if t in (3, 9):  # b disagrees on frames 3 and 9 (most on 9), a little on frame 4
            labels = np.roll(labels, 4 if t == 9 else 2, axis=1)
        elif t == 4:
            labels = labels.copy()
            labels[5, 5] = 0
        write_label_map(b / f"{t:05d}.png", labels)
    assert disagreement_frames(files, {"a": a, "b": b}, 2) == [3, 9]
    assert disagreement_frames(files, {"a": a, "b": b}, 3) == [1, 3, 9]  # then the rest, kept apart from them


def test_the_first_page_holds_the_pooled_table_with_the_share_recovered(tmp_path):
    overall = pd.DataFrame([("flow", 2, 0.7, 0.8, 0.75, 0.8), ("copy", 2, 0.3, 0.3, 0.3, 0.4),
                            ("selection:video", 2, 0.8, 0.9, 0.85, 0.8), ("oracle:video", 2, 0.9, 0.9, 0.9, np.nan)],
                           columns=["method", "objects", "J", "F", "JF", "pseudo_JF"])
    table = pooled_table(overall).set_index("method")
    assert table.loc["selection:video", "recovered"] == (0.85 - 0.75) / (0.9 - 0.75)
    assert np.isnan(table.loc["flow", "recovered"]) and table.loc["oracle:video", "recovered"] == 1.0
    per_video = pd.DataFrame([("v", "flow", 0.8, 0.75, 1, "1")], columns=["video", "model", "pseudo_JF", "gt_JF",
                                                                         "chosen_video", "chosen_objects"])
    assert table.loc["selection:video", "gain"] == pytest.approx(0.85 - 0.75) and table.loc["copy", "gain"] < 0
    summary_page(per_video, overall, None, tmp_path / "page.html", "video")
    page = (tmp_path / "page.html").read_text()
    assert page.index("pooled over all objects") < page.index("per video and model")
    assert "Best single model: <b>flow</b> (J&amp;F 0.7500)" in page and "<b>J&amp;F 0.8500</b>, +0.1000" in page
    highlighted = page.split('<tr style="font-weight:bold;background:#fff3c4">')
    assert len(highlighted) == 2 and highlighted[1].startswith('<td data-v="selection:video"')
    share = (0.85 - 0.75) / (0.9 - 0.75)
    assert f'<td data-v="{share!r}"' in page and ">0.6667</td>" in page  # sortable by its value, shown rounded


def test_without_ground_truth_the_first_page_gives_the_estimate_labelled_so(tmp_path):
    nan = np.nan
    overall = pd.DataFrame([("flow", 2, nan, nan, nan, 0.8), ("selection:fuse", 2, nan, nan, nan, 0.83)],
                           columns=["method", "objects", "J", "F", "JF", "pseudo_JF"])
    per_video = pd.DataFrame([("v", "flow", 0.8, nan, 1, "1")], columns=["video", "model", "pseudo_JF", "gt_JF",
                                                                        "chosen_video", "chosen_objects"])
    summary_page(per_video, overall, None, tmp_path / "page.html", "fuse")
    page = (tmp_path / "page.html").read_text()
    assert "No ground truth" in page and "estimated J&amp;F <b>0.8300</b>" in page and "an estimate, not a score" in page


# ------------------------------------------------------------------ report figures
def test_kendall_tau_by_hand():
    from stseg.report import kendall_tau

    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # pairs: (1,2) concordant, (1,3) concordant, (2,3) discordant -> (2 - 1) / 3
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # tie in y: tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)) = (2 - 0) / sqrt(3 * 2)
    assert kendall_tau([1, 2, 3], [1, 2, 2]) == pytest.approx(2 / np.sqrt(6))
