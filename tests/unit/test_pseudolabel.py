"""stseg.pseudolabel: PGMR's pseudo-labels, stage by stage, on inputs whose answer is known."""

from __future__ import annotations

import numpy as np

from stseg.masks import write_label_map
from stseg.pseudolabel import box_prior, build_pseudo_labels, pseudo_label_frame, redundancy_weights
from stseg.settings import PseudoLabelSettings, defaults


# ------------------------------------------------------------------ pseudo-labels
def test_majority_vote_without_boxes():
    a = np.array([[1, 1, 0, 0]], np.uint8)
    b = np.array([[1, 0, 0, 2]], np.uint8)
    c = np.array([[0, 1, 2, 2]], np.uint8)
    cfg = defaults(PseudoLabelSettings, use_boxes=False)
    label = pseudo_label_frame([a, b, c], np.ones((3, 2)), [1, 2], None, cfg)
    assert label.tolist() == [[1, 1, 0, 2]]  # 2/3, 2/3, 1/3 < 0.5, 2/3


def test_box_prior_keeps_votes_inside_the_max_box():
    prior = box_prior((2, 1, 4, 3), (1, 0, 6, 4), (5, 8), 0.5)
    assert prior[1, 2] == 1.0 and prior[0, 1] == 0.5 and prior[4, 2] == 0 and prior[1, 7] == 0
    labels = np.ones((5, 8), np.uint8)
    cfg = defaults(PseudoLabelSettings, threshold=0.6, ring_weight=0.5)
    out = pseudo_label_frame([labels], np.ones((1, 1)), [1], {1: ((2, 1, 4, 3), (1, 0, 6, 4))}, cfg)
    assert out.sum() == 4  # only the 2x2 average box passes 0.6: the ring scores 0.5, outside 0
    assert pseudo_label_frame([labels], np.ones((1, 1)), [1], {1: None}, cfg).sum() == 0  # not kept


def test_foreground_only_model_votes_against_background():
    a = np.array([[1, 1, 0]], np.uint8)
    b = np.array([[0, 1, 1]], np.uint8)
    fg = np.array([[True, False, True]])
    cfg = defaults(PseudoLabelSettings, use_boxes=False)
    label = pseudo_label_frame([a, b], np.ones((2, 1)), [1], None, cfg, [fg], [1.0])
    # pixel 0: 1 object vote + fg (all its share to object 1) = 2/3; pixel 1: 2/3; pixel 2: 1 + 1 = 2/3
    assert label.tolist() == [[1, 1, 1]]
    label = pseudo_label_frame([a, b], np.ones((2, 1)), [1], None, cfg, [~fg], [1.0])
    assert label.tolist() == [[0, 1, 0]]  # fg says background at 0 and 2: 1/3 each


def test_redundancy_weights_share_a_vote_between_duplicates():
    same = np.array([[1, 1, 0, 0]], np.uint8)
    other = np.array([[0, 0, 1, 1]], np.uint8)
    weights = redundancy_weights(iter([[same, same, other]]), [1], power=8)
    assert weights[:, 0].tolist() == [0.5, 0.5, 1.0]


def test_pseudo_labels_of_a_video(tmp_path):
    masks = {}
    for name, shift in (("a", 0), ("b", 0), ("c", 3)):
        folder = tmp_path / name
        for t in range(3):
            labels = np.zeros((8, 8), np.uint8)
            labels[2:5, 1 + shift * (t > 0):4 + shift * (t > 0)] = 1
            write_label_map(folder / f"{t:05d}.png", labels)
        masks[name] = folder
    cfg = defaults(PseudoLabelSettings, use_boxes=False, redundancy_power=0)
    weights = build_pseudo_labels(masks, masks["a"] / "00000.png", None, tmp_path / "pseudo", cfg)
    from stseg.masks import read_label_map

    assert np.array_equal(read_label_map(tmp_path / "pseudo" / "00002.png"), read_label_map(masks["a"] / "00002.png"))
    assert weights["weight"].tolist() == [1.0, 1.0, 1.0]


def full_frame_rule(label_maps, weights, objects, boxes, config, foreground=(), foreground_weights=()):
    """The module docstring's rule computed on every pixel of the frame, as stated: the reference for the cropped
    computation."""
    shape = (label_maps or foreground)[0].shape
    votes = np.zeros((len(objects), *shape), np.float32)
    for m, labels in enumerate(label_maps):
        for k, obj in enumerate(objects):
            if weights[m, k] > 0:
                votes[k] += weights[m, k] * (labels == obj)
    totals = weights.sum(axis=0).astype(np.float32) if len(label_maps) else np.zeros(len(objects), np.float32)
    if len(foreground):
        mass = votes.sum(axis=0)
        share = np.divide(votes, mass, out=np.zeros_like(votes), where=mass > 0)
        for fg, w in zip(foreground, foreground_weights):
            votes += np.float32(w) * share * fg[None]
            totals = totals + np.float32(w)
    votes /= np.where(totals > 0, totals, 1)[:, None, None]
    if boxes is not None and config.use_boxes:
        for k, obj in enumerate(objects):
            fused = boxes.get(obj)
            votes[k] = 0 if fused is None else votes[k] * box_prior(fused[0], fused[1], shape, config.ring_weight)
    best = votes.argmax(axis=0)
    score = np.take_along_axis(votes, best[None], axis=0)[0]
    ids = np.asarray(objects, dtype=np.uint8)
    return np.where(score >= config.threshold - 1e-6, ids[best], 0).astype(np.uint8)


def test_the_cropped_vote_equals_the_full_frame_rule_pixel_for_pixel():
    """Random label maps, weights, boxes (some objects not kept), foreground models and thresholds down to where an
    unvoted pixel is labelled, average boxes reaching outside the max box: the cropped computation gives the full
    frame's bytes."""
    rng = np.random.default_rng(1)
    objects = [1, 2, 3]
    for trial in range(120):
        height, width = (int(v) for v in rng.integers(8, 48, 2))
        maps = []
        for _ in range(int(rng.integers(1, 5))):
            labels = np.zeros((height, width), np.uint8)
            for obj in objects:
                if rng.random() < 0.7:
                    y, x = rng.integers(0, height), rng.integers(0, width)
                    labels[y:y + rng.integers(1, 12), x:x + rng.integers(1, 12)] = obj
            maps.append(labels)
        weights = rng.random((len(maps), len(objects))) * (rng.random((len(maps), len(objects))) < 0.9)
        foreground = [rng.random((height, width)) < 0.1 for _ in range(int(rng.integers(0, 2)))]
        fg_weights = rng.random(len(foreground))
        boxes = None
        if trial % 3:
            boxes = {}
            for obj in objects:
                if rng.random() < 0.8:
                    x0, y0 = rng.random() * width, rng.random() * height
                    small = (x0, y0, x0 + rng.random() * 10, y0 + rng.random() * 10)
                    grown = (small[0] - 2, small[1] - 2, small[2] + 3, small[3] + 3)
                    if rng.random() < 0.25:  # an average box reaching outside the max box
                        small = (small[0] + rng.random() * 8, small[1] - rng.random() * 8, small[2] + 6, small[3])
                    boxes[obj] = (small, grown)
                else:
                    boxes[obj] = None
        config = defaults(PseudoLabelSettings, threshold=float(rng.choice([0.5, 0.3, 1e-7])),
                          ring_weight=float(rng.random()))
        got = pseudo_label_frame(maps, weights, objects, boxes, config, foreground, fg_weights)
        assert np.array_equal(got, full_frame_rule(maps, weights, objects, boxes, config, foreground, fg_weights)), trial


def test_a_video_too_long_to_keep_in_memory_is_read_again_with_the_same_pseudo_labels(tmp_path, monkeypatch):
    """Adaptive weighting makes three passes; with no room to keep the decoded masks each pass reads the PNGs."""
    import stseg.pseudolabel as module
    from stseg.masks import read_label_map

    rng = np.random.default_rng(2)
    masks = {}
    for name in ("a", "b", "c"):
        for t in range(6):
            labels = np.zeros((24, 32), np.uint8)
            labels[rng.integers(0, 8):rng.integers(12, 24), rng.integers(0, 10):rng.integers(14, 32)] = 1
            labels[rng.integers(0, 6):rng.integers(8, 12), rng.integers(20, 26):30] = 2
            write_label_map(tmp_path / name / f"{t:05d}.png", labels)
        masks[name] = tmp_path / name
    cfg = defaults(PseudoLabelSettings, use_boxes=False, weighting="adaptive")
    read = []
    real = module.read_label_map
    monkeypatch.setattr(module, "read_label_map", lambda *a, **k: read.append(a[0]) or real(*a, **k))
    kept = build_pseudo_labels(masks, masks["a"] / "00000.png", None, tmp_path / "kept", cfg)
    assert len(read) == 3 * 5  # each of three models' five frames after the first, once
    read.clear()
    monkeypatch.setattr(module, "KEEP_BYTES", 0)
    streamed = build_pseudo_labels(masks, masks["a"] / "00000.png", None, tmp_path / "streamed", cfg)
    assert len(read) == 3 * 3 * 5  # three passes over them
    assert kept.equals(streamed)
    for t in range(6):
        name = f"{t:05d}.png"
        assert np.array_equal(read_label_map(tmp_path / "kept" / name), read_label_map(tmp_path / "streamed" / name))
