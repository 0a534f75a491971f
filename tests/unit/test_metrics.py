"""stseg.metrics: DAVIS J and F equal to the official davis2017-evaluation."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from helpers import (
    shared_dataset,
)

from stseg.masks import write_label_map
from stseg.metrics import (
    EvaluationError,
    boundary_map,
    boundary_radius,
    disk,
    evaluate,
    frame_scores,
    score_video,
    sequence_statistics,
)


def jf(gt, pred, objects=(1,), variant="davis"):
    j, f = frame_scores(np.asarray(gt, np.uint8), np.asarray(pred, np.uint8), objects, variant)
    return j.tolist(), f.tolist()


# ---------------------------------------------------------------- hand-computed edge cases
def test_both_empty_scores_one():
    assert jf(np.zeros((10, 10)), np.zeros((10, 10))) == ([1.0], [1.0])


def test_one_empty_scores_zero():
    gt = np.zeros((10, 10)); gt[3:6, 3:6] = 1
    assert jf(gt, np.zeros((10, 10))) == ([0.0], [0.0])  # no predicted boundary: P=1, R=0
    assert jf(np.zeros((10, 10)), gt) == ([0.0], [0.0])  # no ground-truth boundary: P=0, R=1


def test_full_frame_has_no_boundary():
    full = np.ones((10, 10))
    assert not boundary_map(full).any()
    assert jf(full, full) == ([1.0], [1.0])
    half = np.zeros((10, 10)); half[:5] = 1
    j, f = jf(full, half)
    assert j == [0.5] and f == [0.0]  # prediction has a boundary, ground truth none: P=0, R=1


def test_one_pixel_object():
    gt = np.zeros((20, 20)); gt[5, 5] = 1
    assert sorted(zip(*np.nonzero(boundary_map(gt)))) == [(4, 4), (4, 5), (5, 4), (5, 5)]
    assert boundary_radius(20, 20) == 1.0  # ceil(0.008 * 28.28)
    assert jf(gt, gt) == ([1.0], [1.0])
    near = np.zeros((20, 20)); near[5, 6] = 1  # boundaries within one pixel: F = 1 though J = 0
    assert jf(gt, near) == ([0.0], [1.0])
    far = np.zeros((20, 20)); far[5, 8] = 1
    assert jf(gt, far) == ([0.0], [0.0])


def test_object_touching_the_border():
    gt = np.zeros((4, 4)); gt[:2] = 1
    expected = np.zeros((4, 4), bool); expected[1] = True  # image borders are not boundaries
    assert np.array_equal(boundary_map(gt), expected)
    pred = np.zeros((4, 4)); pred[:3] = 1
    j, f = jf(gt, pred)
    assert j == [8 / 12] and f == [1.0]


def test_partial_boundary_match_by_hand():
    # 30x30: radius ceil(0.008 * 42.43) = 1; gt square rows/cols 10..19, prediction shifted right by 3
    gt = np.zeros((30, 30)); gt[10:20, 10:20] = 1
    pred = np.zeros((30, 30)); pred[10:20, 13:23] = 1
    j, f = jf(gt, pred)
    assert j == [70 / 130]
    gb, pb = boundary_map(gt), boundary_map(pred)
    assert gb.sum() == 40 and pb.sum() == 40
    # matched prediction boundary pixels: those within the cross-shaped disk of a gt boundary pixel
    gd = cv2.dilate(gb.astype(np.uint8), disk(1))
    pd_ = cv2.dilate(pb.astype(np.uint8), disk(1))
    p, r = (pb & gd.astype(bool)).sum() / 40, (gb & pd_.astype(bool)).sum() / 40
    assert f == [2 * p * r / (p + r)]
    assert 0 < f[0] < 1


def test_disk_is_scikit_image_disk():
    morphology = pytest.importorskip("skimage.morphology")
    for radius in (1, 2, 3, 8, 18):
        assert np.array_equal(disk(radius), morphology.disk(radius))
    assert not np.array_equal(disk(8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17)))


def test_boundary_radius_at_480p_and_1080p():
    assert boundary_radius(480, 854) == 8.0
    assert boundary_radius(1080, 1920) == 18.0


def test_mose_variant():
    gt = np.zeros((10, 10)); gt[2, 2:6] = 1
    pred = np.zeros((10, 10)); pred[2, 2:4] = 1
    j, _ = jf(gt, pred, variant="mose")
    assert j == [(2 + 1) / (4 + 1)]
    assert jf(np.zeros((5, 5)), np.zeros((5, 5)), variant="mose") == ([1.0], [1.0])


def test_void_pixels_count_as_background():
    gt = np.zeros((10, 10)); gt[2:5, 2:5] = 1; gt[8, 8] = 255
    pred = np.zeros((10, 10)); pred[2:5, 2:5] = 1
    assert jf(gt, pred) == ([1.0], [1.0])


def test_several_objects_in_one_pass():
    gt = np.zeros((40, 40)); gt[5:15, 5:15] = 1; gt[20:30, 20:35] = 2
    pred = gt.copy(); pred[20:30, 20:35] = 0; pred[22:30, 20:35] = 2
    j, f = jf(gt, pred, (1, 2))
    assert j[0] == 1.0 and f[0] == 1.0
    assert j[1] == 120 / 150


# ---------------------------------------------------------------- the crop is exact
def reference_f(pred, gt):
    """The official f_measure, transcribed: full frame, scikit-image disk."""
    radius = math.ceil(0.008 * np.linalg.norm(pred.shape))
    kernel = disk(radius)
    fb, gb = boundary_map(pred), boundary_map(gt)
    fd = cv2.dilate(fb.astype(np.uint8), kernel)
    gd = cv2.dilate(gb.astype(np.uint8), kernel)
    n_fg, n_gt = fb.sum(), gb.sum()
    if n_fg == 0 and n_gt > 0:
        p, r = 1, 0
    elif n_fg > 0 and n_gt == 0:
        p, r = 0, 1
    elif n_fg == 0 and n_gt == 0:
        p, r = 1, 1
    else:
        p, r = (fb * gd).sum() / n_fg, (gb * fd).sum() / n_gt
    return 0 if p + r == 0 else 2 * p * r / (p + r)


def test_cropped_f_equals_full_frame_f_on_random_masks():
    rng = np.random.default_rng(7)
    for trial in range(300):
        h, w = rng.integers(8, 120, size=2)
        gt = np.zeros((h, w), np.uint8); pred = np.zeros((h, w), np.uint8)
        for mask in (gt, pred):
            for _ in range(rng.integers(0, 4)):
                y, x = rng.integers(-5, h), rng.integers(-5, w)
                mask[max(0, y):y + rng.integers(1, h), max(0, x):x + rng.integers(1, w)] = 1
            if rng.random() < 0.3:
                mask[rng.random((h, w)) < 0.05] = 1
        _, f = frame_scores(gt, pred, (1,))
        assert f[0] == reference_f(pred.astype(bool), gt.astype(bool)), trial


# ---------------------------------------------------------------- sequences
def test_statistics_follow_the_official_code():
    mean, recall, decay = sequence_statistics(np.array([1, 1, 1, 1, 0, 0, 0, 0], float))
    assert (mean, recall, decay) == (0.5, 0.5, 1.0)


def write_video(folder, maps):
    for t, labels in enumerate(maps):
        write_label_map(folder / f"{t:05d}.png", np.asarray(labels, np.uint8))


def test_first_and_last_frames_are_not_scored_and_missing_objects_score_zero(tmp_path):
    gt = np.zeros((5, 20, 20), np.uint8); gt[:, 2:8, 2:8] = 1; gt[:, 10:15, 10:15] = 2
    pred = gt.copy()
    pred[0] = 0; pred[4] = 0          # first and last frames: ignored
    pred[2][pred[2] == 2] = 0         # object 2 missing on frame 2: J = F = 0 there
    write_video(tmp_path / "gt", gt); write_video(tmp_path / "pred", pred)
    result = score_video(tmp_path / "gt", tmp_path / "pred", "v")
    assert result.frames == ("00001", "00002", "00003")
    assert result.j.tolist() == [[1, 1, 1], [1, 0, 1]]
    rows = result.rows()
    assert rows[0]["JF"] == 1.0 and rows[1]["J"] == 2 / 3 and rows[1]["F"] == 2 / 3


def test_unknown_predicted_id_is_an_error(tmp_path):
    gt = np.zeros((3, 10, 10), np.uint8); gt[:, 2:5, 2:5] = 1
    pred = gt.copy(); pred[1, 7:9, 7:9] = 3
    write_video(tmp_path / "gt", gt); write_video(tmp_path / "pred", pred)
    with pytest.raises(EvaluationError, match=r"00001.png: predicted object id\(s\) \[3\] are not in the first-frame"):
        score_video(tmp_path / "gt", tmp_path / "pred", "v")


def test_missing_prediction_frame_is_an_error(tmp_path):
    gt = np.ones((4, 10, 10), np.uint8)
    write_video(tmp_path / "gt", gt); write_video(tmp_path / "pred", gt)
    (tmp_path / "pred" / "00002.png").unlink()
    with pytest.raises(EvaluationError, match=r"predictions missing for frame\(s\) 00002.png"):
        score_video(tmp_path / "gt", tmp_path / "pred", "v")


def test_dataset_score_pools_objects(tmp_path):
    one = np.zeros((3, 10, 10), np.uint8); one[:, 2:6, 2:6] = 1
    two = np.zeros((3, 10, 10), np.uint8); two[:, 1:4, 1:4] = 1; two[:, 6:9, 6:9] = 2
    two_pred = two.copy(); two_pred[1][two_pred[1] == 2] = 0
    for name, gt, pred in (("a", one, one), ("b", two, two_pred)):
        write_video(tmp_path / "gt" / name, gt); write_video(tmp_path / "pred" / name, pred)
    table = evaluate(tmp_path / "gt", tmp_path / "pred")
    assert table["JF"].tolist() == [1.0, 1.0, 0.0]
    assert table["JF"].mean() == pytest.approx(2 / 3)  # pooled: not (1 + 0.5) / 2
    out = subprocess.run([sys.executable, "-m", "stseg.cli", "evaluate", "--gt", str(tmp_path / "gt"),
                          "--pred", str(tmp_path / "pred"), "--out", str(tmp_path / "s.csv")],
                         capture_output=True, text=True, check=True).stdout
    assert "all objects (pooled)           3   0.6667   0.6667   0.6667" in out
    assert pd.read_csv(tmp_path / "s.csv")["JF"].tolist() == [1.0, 1.0, 0.0]


# ---------------------------------------------------------------- real DAVIS, official numbers
def test_matches_the_official_evaluation_on_real_davis():
    root = shared_dataset("davis-fullgt")
    reference = pd.read_csv(root / "reference_jf.csv")
    table = evaluate(root / "Annotations", root / "Results" / "osvos", workers=2)
    for row in reference.itertuples():
        video, obj = row.sequence.rsplit("_", 1)
        mine = table[(table.video == video) & (table.object == int(obj))].iloc[0]
        assert abs(mine.J - row.J) < 1e-9 and abs(mine.F - row.F) < 1e-9 and abs(mine.JF - row.JF) < 1e-9


def test_agrees_with_vos_benchmark_per_frame():
    evaluator_module = pytest.importorskip("vos_benchmark.evaluator")
    from stseg.masks import read_label_map

    root = shared_dataset("davis-fullgt")
    for video in ("blackswan", "car-shadow"):
        frames = sorted(p.stem for p in (root / "Annotations" / video).glob("*.png"))[1:-1]
        peer = evaluator_module.Evaluator(name=video)
        ours_j, ours_f = [], []
        for frame in frames:
            gt = read_label_map(root / "Annotations" / video / f"{frame}.png")
            pred = read_label_map(root / "Results" / "osvos" / video / f"{frame}.png")
            peer.feed_frame(pred, gt)
            j, f = frame_scores(gt, pred, (1,))
            ours_j.append(j[0]); ours_f.append(f[0])
        assert np.allclose(peer.object_iou[1], ours_j, rtol=0, atol=1e-12)
        assert np.allclose(peer.boundary_f[1], ours_f, rtol=0, atol=1e-12)


def test_agrees_with_vos_benchmark_on_multi_object_frames(small_demo):
    evaluator_module = pytest.importorskip("vos_benchmark.evaluator")
    from stseg.masks import read_label_map

    gt_dir = small_demo / "Annotations" / "crossing"
    rng = np.random.default_rng(3)
    peer = evaluator_module.Evaluator()
    for path in sorted(gt_dir.glob("*.png"))[1:-1]:
        gt = read_label_map(path)
        pred = np.roll(gt, rng.integers(-6, 6, size=2), axis=(0, 1))  # every object is in frame 0: same counting
        peer.feed_frame(pred, gt)
        j, f = frame_scores(gt, pred, (1, 2, 3))
        for k, obj in enumerate((1, 2, 3)):
            assert peer.object_iou[obj][-1] == pytest.approx(j[k], abs=1e-12)
            assert peer.boundary_f[obj][-1] == pytest.approx(f[k], abs=1e-12)


# ---------------------------------------------------------------- object ids that are not 1..n
#: J&F of mose_cases.write_sparse_ids by davis2017-evaluation itself (mose_cases.official_davis_jf)
OFFICIAL_SPARSE_IDS_JF = 0.8528118348396777


def test_sparse_ids_are_counted_as_the_official_davis_evaluation_does(tmp_path):
    import os

    from mose_cases import official_davis_jf, write_sparse_ids

    write_sparse_ids(tmp_path)
    expected = OFFICIAL_SPARSE_IDS_JF
    checkout = os.environ.get("STSEG_DAVIS_EVAL_REPO")
    if checkout:  # the official code itself, beside the stored value
        expected = official_davis_jf(Path(checkout), tmp_path)
        assert abs(expected - OFFICIAL_SPARSE_IDS_JF) < 1e-12
    with pytest.warns(UserWarning, match=r"object id\(s\) \[2, 4, 5, 6\] are missing from the first frame"):
        table = evaluate(tmp_path / "gt", tmp_path / "pred", None, "davis")
    assert table["object"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert abs(table["J"].mean() / 2 + table["F"].mean() / 2 - expected) < 1e-12
    present = evaluate(tmp_path / "gt", tmp_path / "pred", None, "mose")  # MOSE: the ids that are there
    assert present["object"].tolist() == [1, 3, 7]


def test_boundaries_shared_between_the_pairs_of_a_frame_give_the_same_scores():
    """Several predictions of one frame against two references with one BoundaryCache (as the scoring does), on
    random label maps touching the image's edges, both variants: the scores of each pair alone."""
    import numpy as np

    from stseg.metrics import BoundaryCache, _disk, boundary_radius, frame_scores

    rng = np.random.default_rng(3)
    for trial in range(60):
        height, width = (int(v) for v in rng.integers(20, 90, 2))
        def label_map():
            labels = np.zeros((height, width), np.uint8)
            for obj in (1, 2, 3):
                if rng.random() < 0.85:
                    y, x = rng.integers(0, height), rng.integers(0, width)
                    labels[y:y + rng.integers(1, height), x:x + rng.integers(1, width)] = obj
            labels[rng.random((height, width)) < 0.01] = 2
            return labels
        refs, preds = [label_map(), label_map()], [label_map() for _ in range(4)]
        variant = "mose" if trial % 2 else "davis"
        kernel = _disk((boundary_radius(height, width), 4.0, 7.5)[trial % 3])  # 7.5: an even-sized disk
        cache = BoundaryCache()
        for ref in refs:
            for pred in preds:
                shared = frame_scores(ref, pred, (1, 2, 3), variant, kernel, boundaries=cache)
                alone = frame_scores(ref, pred, (1, 2, 3), variant, kernel)
                assert np.array_equal(shared[0], alone[0]) and np.array_equal(shared[1], alone[1]), trial


def test_the_joint_histogram_counted_inside_the_objects_box_is_the_full_frames():
    import numpy as np

    from stseg.metrics import BoundaryCache, joint_histogram

    rng = np.random.default_rng(5)
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(1, 50, 2))
        maps = [np.zeros((height, width), np.uint8) for _ in range(2)]
        for labels in maps:
            for obj in (1, 2, 255):  # 255: void in a ground truth
                if rng.random() < 0.5:
                    y, x = rng.integers(0, height), rng.integers(0, width)
                    labels[y:y + rng.integers(1, height + 1), x:x + rng.integers(1, width + 1)] = obj
        assert np.array_equal(BoundaryCache().joint_histogram(*maps), joint_histogram(*maps)), trial


def test_evaluate_refuses_ground_truth_that_would_shift_the_scores(small_demo, tmp_path):
    """`stseg evaluate` on ground truth missing its last frame, with a stray readme.png, with the background at
    another palette index, or an empty root: one line naming the folder, exit 2, never shifted scores."""
    import shutil
    import subprocess
    import sys

    from PIL import Image

    def evaluate(gt):
        return subprocess.run([sys.executable, "-m", "stseg.cli", "evaluate", "--gt", str(gt), "--pred",
                               str(small_demo / "Annotations")], capture_output=True, text=True)

    def copy(name):
        gt = tmp_path / name
        shutil.copytree(small_demo / "Annotations" / "twins", gt / "twins")
        return gt

    short = copy("short")
    (short / "twins" / "00009.png").unlink()
    result = evaluate(short)
    assert result.returncode == 2 and "ends at 00008.png but the predictions go on to 00009.png" in result.stderr
    stray = copy("stray")
    (stray / "twins" / "readme.png").write_bytes((stray / "twins" / "00001.png").read_bytes())
    result = evaluate(stray)
    assert result.returncode == 2 and "readme.png in the ground truth of video 'twins' is not a frame" in result.stderr
    index = copy("index")
    labels = np.array(Image.open(index / "twins" / "00000.png"))
    image = Image.fromarray(np.where(labels == 0, 5, labels).astype(np.uint8), "P")
    image.putpalette([128, 0, 0] + Image.open(small_demo / "Annotations" / "twins" / "00000.png").getpalette()[3:15]
                     + [0, 0, 0] + [255] * (768 - 18))
    image.save(index / "twins" / "00000.png")
    result = evaluate(index)
    assert result.returncode == 2 and "the background (black) is palette index 5" in result.stderr
    (tmp_path / "empty").mkdir()
    result = evaluate(tmp_path / "empty")
    assert result.returncode == 2 and "no video folders to score" in result.stderr and "Traceback" not in result.stderr
