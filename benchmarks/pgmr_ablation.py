"""Does pseudo-label selection pick well?  PGMR design variants measured on a finished run.

    snakemake --cores 2                       # the default run (demo, built-in models)
    python benchmarks/pgmr_ablation.py [--root data/demo] [--results results] [--workers 2]

Re-uses the run's masks (``results/masks/<model>/<video>``) and, for each design
variant, rebuilds the fused boxes and pseudo-labels in a temporary folder, scores
every model against them, selects per video and per object, and reports the
ground-truth J&F of the selections (pooled over objects, as the official
evaluation) beside the best single model and the oracles, which are measured in
the same run.  "recovered" is the share of the oracle's gain over the best
single model that the per-video selection recovers.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from stseg.boxes import video_boxes
from stseg.fusion import fuse_boxes
from stseg.masks import object_ids, read_label_map
from stseg.metrics import score_arrays, score_video
from stseg.pseudolabel import build_pseudo_labels
from stseg.selection import chosen_models, per_object_frames, select
from stseg.settings import PseudoLabelSettings, defaults

MODELS = ["copy", "flow", "global", "appearance"]
DEFAULT = defaults(PseudoLabelSettings, weighting="uniform", ring_weight=0.75, redundancy_power=8.0)
VOTERS = ["flow", "global", "appearance"]
VARIANTS = {
    "all four vote, equal weights, boxes": (MODELS, replace(DEFAULT, redundancy_power=0)),
    "all four vote, redundancy weights": (MODELS, DEFAULT),
    "copy does not vote, equal weights": (VOTERS, replace(DEFAULT, redundancy_power=0)),
    "copy does not vote, redundancy weights (default)": (VOTERS, DEFAULT),
    "  ... without the box prior": (VOTERS, replace(DEFAULT, use_boxes=False)),
    "  ... ring_weight 0.5": (VOTERS, replace(DEFAULT, ring_weight=0.5)),
    "  ... max box only (ring_weight 1)": (VOTERS, replace(DEFAULT, ring_weight=1.0)),
    "  ... threshold 0.4": (VOTERS, replace(DEFAULT, threshold=0.4)),
    "  ... adaptive weights": (VOTERS, replace(DEFAULT, weighting="adaptive")),
}


def run_video(args: tuple) -> dict:
    root, results, video, voters, config, workdir = args
    masks = {m: results / "masks" / m / video for m in MODELS}
    annotation = root / "Annotations" / video / "00000.png"
    objects = list(object_ids(read_label_map(annotation)))
    fused = fuse_boxes({m: video_boxes(masks[m], objects) for m in voters})
    pseudo_dir = workdir / video
    build_pseudo_labels({m: masks[m] for m in voters}, annotation, fused, pseudo_dir, config)
    rows = [{"model": m, **r} for m in MODELS for r in score_video(pseudo_dir, masks[m], video).rows()]
    video_model, per_object = chosen_models(select(pd.DataFrame(rows), MODELS, video, 0.0))  # STSeg's rule
    gt_dir = root / "Annotations" / video
    frames = sorted((p.stem for p in gt_dir.glob("*.png")), key=int)[1:-1]
    pairs = ((read_label_map(gt_dir / f"{f}.png"), labels, f) for f, labels in per_object_frames(per_object, masks, frames))
    composed = [r["JF"] for r in score_arrays(pairs, objects, video, frames).rows()]
    return {"video": video, "video_model": video_model, "per_object": composed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/demo"))
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    videos = sorted(p.name for p in (args.root / "JPEGImages").iterdir() if p.is_dir())
    truth = {
        (v, m): [r["JF"] for r in score_video(args.root / "Annotations" / v, args.results / "masks" / m / v, v).rows()]
        for v in videos for m in MODELS
    }
    pooled = lambda lists: float(np.mean(np.concatenate(lists)))
    single = {m: pooled([truth[v, m] for v in videos]) for m in MODELS}
    best_single = max(single.values())
    oracle_video = {v: max(MODELS, key=lambda m: np.mean(truth[v, m])) for v in videos}
    oracle = pooled([truth[v, oracle_video[v]] for v in videos])
    oracle_object = float(np.mean([max(truth[v, m][k] for m in MODELS) for v in videos for k in range(len(truth[v, MODELS[0]]))]))
    print(f"{len(videos)} videos; ground-truth J&F pooled over objects")
    print("single models: " + ", ".join(f"{m} {s:.4f}" for m, s in single.items()))
    print(f"oracle per video {oracle:.4f}, oracle per object {oracle_object:.4f}\n")
    print(f"{'variant':<50} {'per video':>9} {'hits':>5} {'recovered':>9} {'per object':>10}")
    with ProcessPoolExecutor(args.workers) as pool, tempfile.TemporaryDirectory() as tmp:
        for index, (name, (voters, config)) in enumerate(VARIANTS.items()):
            workdir = Path(tmp) / str(index)
            tasks = [(args.root, args.results, v, voters, config, workdir) for v in videos]
            outcomes = list(pool.map(run_video, tasks))
            per_video = pooled([truth[o["video"], o["video_model"]] for o in outcomes])
            per_object = pooled([o["per_object"] for o in outcomes])
            hits = sum(o["video_model"] == oracle_video[o["video"]] for o in outcomes)
            # nothing to recover when the oracle is the best single model (every video's best is one model)
            gain = oracle - best_single
            recovered = f"{(per_video - best_single) / gain:9.0%}" if gain > 0 else f"{'-':>9}"
            print(f"{name:<50} {per_video:9.4f} {hits:>2}/{len(videos):<2} {recovered} {per_object:10.4f}")


if __name__ == "__main__":
    main()
