"""stseg.scoring: every model of a video scored against the pseudo-labels and the ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from stseg.annotation import Annotation
from stseg.masks import write_label_map
from stseg.scoring import SCORE_COLUMNS, score_models
from stseg.settings import ScoreSettings, defaults

H, W, T = 40, 60, 6


def square(t: int, obj: int) -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    x = 5 + 3 * t + 30 * (obj - 1)
    labels[10:22, x : x + 12] = obj
    return labels


def write(folder, maps):
    for t, labels in enumerate(maps):
        write_label_map(folder / f"{t:05d}.png", labels)
    return folder


@pytest.fixture
def video(tmp_path):
    truth = [np.maximum(square(t, 1), square(t, 2)) for t in range(T)]
    pseudo = write(tmp_path / "pseudo", truth)
    exact = write(tmp_path / "exact", truth)
    # object 2 lost after the first frame: empty where the truth has it
    lost = write(tmp_path / "lost", [truth[0]] + [np.where(m == 2, 0, m).astype(np.uint8) for m in truth[1:]])
    return tmp_path, pseudo, {"exact": exact, "lost": lost}


def test_values_against_the_pseudo_labels_and_the_ground_truth(video):
    root, pseudo, models = video
    table = score_models("v", models, pseudo, defaults(ScoreSettings), gt_dir=pseudo)
    assert list(table.columns) == SCORE_COLUMNS
    assert len(table) == 2 * 2 * 2  # (pseudo, gt) x models x objects
    by = table.set_index(["reference", "model", "object"])
    for reference in ("pseudo", "gt"):
        assert by.loc[(reference, "exact", 1), "JF"] == 1.0 and by.loc[(reference, "exact", 2), "JF"] == 1.0
        assert by.loc[(reference, "lost", 1), "JF"] == 1.0
        assert by.loc[(reference, "lost", 2), "J"] == 0.0 and by.loc[(reference, "lost", 2), "F"] == 0.0
    assert (table["frames"] == T - 2).all()  # first and last frames are not scored (DAVIS)
    assert table["edge"].isna().all()  # no frame files given: no edge alignment


def test_absent_skip_scores_only_where_the_pseudo_label_shows_the_object(video, tmp_path):
    root, pseudo, models = video
    # the pseudo-label itself loses object 2 on frames 3..: with 'skip' those frames are not counted
    partial = write(tmp_path / "partial", [np.where((m == 2) & (t >= 3), 0, m).astype(np.uint8)
                                           for t, m in enumerate(np.maximum(square(t, 1), square(t, 2)) for t in range(T))])
    scored = score_models("v", models, partial, defaults(ScoreSettings, absent="skip"))
    counted = scored.set_index(["model", "object"])["frames"]
    assert counted[("exact", 1)] == T - 2 and counted[("exact", 2)] == 2  # frames 1 and 2 only
    every = score_models("v", models, partial, defaults(ScoreSettings, absent="score")).set_index(["model", "object"])
    assert every.loc[("lost", 2), "JF"] > scored.set_index(["model", "object"]).loc[("lost", 2), "JF"]


def test_an_object_first_annotated_later_is_scored_after_its_first_mask(video):
    root, pseudo, models = video
    first = np.maximum(square(0, 1), square(0, 2))
    annotation = Annotation(frame="00000", labels=np.where(first == 2, 0, first).astype(np.uint8), palette=[],
                            later={"00003": np.where(np.maximum(square(3, 1), square(3, 2)) == 2, 2, 0).astype(np.uint8)})
    table = score_models("v", models, pseudo, defaults(ScoreSettings), annotation=annotation)
    frames = table.set_index(["model", "object"])["frames"]
    assert frames[("exact", 1)] == T - 2 and frames[("exact", 2)] == T - 5  # frame 4 only (3 is its first, 5 the last)


def test_edge_alignment_on_the_pseudo_rows_when_frames_are_given(video, tmp_path):
    import cv2

    root, pseudo, models = video
    frames = []
    for t in range(T):
        image = np.full((H, W, 3), 60, np.uint8)
        image[np.maximum(square(t, 1), square(t, 2)) > 0] = 220
        frames.append(tmp_path / f"{t:05d}.jpg")
        cv2.imwrite(str(frames[-1]), image)
    table = score_models("v", models, pseudo, defaults(ScoreSettings), gt_dir=pseudo, frame_files=frames)
    assert table[table["reference"] == "pseudo"]["edge"].notna().all()
    assert table[table["reference"] == "gt"]["edge"].isna().all()
    # the same values as the edge alignment reading every frame itself (the scored frames' maps are handed over,
    # the last frame is read ahead by a thread)
    from stseg.signals import edge_alignment

    plain = edge_alignment(frames, models, [1, 2])
    pseudo_rows = table[table["reference"] == "pseudo"]
    for model, obj, edge in zip(pseudo_rows["model"], pseudo_rows["object"], pseudo_rows["edge"]):
        assert edge == plain[model][obj - 1]
    assert plain["lost"][1] == 0 and plain["exact"][1] > 0


def test_an_unknown_absent_rule_is_refused(video):
    root, pseudo, models = video
    with pytest.raises(ValueError, match="pgmr.absent must be 'score' or 'skip'"):
        score_models("v", models, pseudo, defaults(ScoreSettings, absent="ignore"))
