"""The light stages at MOSE's resolution: fuse, pseudo-label, score and select per frame against the decode floor.

    python benchmarks/bench_stages.py [--frames 12] [--width 1920 --height 1080] [--models 6] [--repeat 2]

Generates one demo video (``crowd-pan``: four objects) at 1920x1080 with ground
truth on every frame, and the masks of ``--models`` models (the ground truth,
each model shifted, grown or shrunk by its own amount and losing an object on
some frames, written with the models' own PNG writer).  Then, in one process and
the same run, it times:

* the floor: decoding every model's PNGs of the video once (``read_label_map``);
* each light stage exactly as its job runs it (``stseg.cli.main`` with the
  arguments the rules give: fuse with the boxes table, pseudo-label with the
  fused boxes, score against the pseudo-labels with the edge alignment, and
  against the ground truth, select with the final masks written: the pick and
  the fusion, as on MOSE's valid and test splits; ``select, measured``: with
  ground truth, where the selection also scores every strategy's masks);

and prints, per stage, milliseconds per frame and the ratio to the floor (the
goal: every stage within 2x).  Each figure is the best of
``--repeat`` runs (the first run of a stage also imports its modules).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from stseg import settings as stage_settings
from stseg.cli import main as stseg
from stseg.demo import write_demo
from stseg.masks import read_label_map, write_label_map

VIDEO = "crowd-pan"


def model_masks(gt: Path, out: Path, model: int) -> None:
    """A model's masks of the video: the ground truth moved by ``model`` pixels, grown (odd models) or shrunk, and
    without its last object on every fifth frame (from the second on)."""
    out.mkdir(parents=True)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * model + 1, 2 * model + 1))
    for index, path in enumerate(sorted(gt.glob("*.png"))):
        labels = read_label_map(path)
        if index:
            labels = np.roll(labels, (model, -model), axis=(0, 1))
            grown = np.zeros_like(labels)
            for obj in np.unique(labels[labels > 0]):
                mask = (labels == obj).astype(np.uint8)
                mask = cv2.dilate(mask, kernel) if model % 2 else cv2.erode(mask, kernel)
                grown[(mask > 0) & (grown == 0)] = obj
            labels = grown
            if index % 5 == 1:
                labels[labels == labels.max()] = 0
        write_label_map(out / path.name, labels)


def best(repeat: int, run) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_demo(root, [VIDEO], width=args.width, height=args.height, max_frames=args.frames)
        gt, frames = root / "Annotations" / VIDEO, root / "JPEGImages" / VIDEO
        names = [f"m{k}" for k in range(args.models)]
        masks = {name: Path(tmp) / "masks" / name / VIDEO for name in names}
        for k, name in enumerate(names):
            model_masks(gt, masks[name], k + 1)
        pairs = [f"{name}={folder}" for name, folder in masks.items()]
        first = str(gt / "00000.png")
        out = Path(tmp) / "results"

        def s(stage: str) -> str:
            return stage_settings.to_json(stage_settings.defaults(stage_settings.STAGES[stage]))

        fused, boxes, pseudo = out / "fused.csv", out / "boxes.csv", out / "pseudo"
        scores, final = out / "scores.csv", out / "final"
        stages = {
            "fuse": ["fuse", "--masks", *pairs, "--annotation", first, "--settings", s("fuse"),
                     "--boxes-out", str(boxes), "--out", str(fused)],
            "pseudolabel": ["pseudolabel", "--masks", *pairs, "--annotation", first, "--fused", str(fused),
                            "--settings", s("pseudolabel"), "--out", str(pseudo), "--weights-out", str(out / "w.csv")],
            "score": ["score", "--video", VIDEO, "--masks", *pairs, "--pseudo", str(pseudo), "--frames", str(frames),
                      "--annotation", first, "--gt", str(gt), "--settings", s("score"), "--out", str(scores)],
            "prior": ["prior", "--scores", str(scores), "--models", *names, "--settings", s("select"),
                      "--out", str(out / "prior.csv")],
            "select": ["select", "--video", VIDEO, "--scores", str(scores), "--masks", *pairs, "--pseudo", str(pseudo),
                       "--prior", str(out / "prior.csv"), "--settings", s("select"), "--final", str(final),
                       "--out", str(out / "sel.csv"), "--outcome", str(out / "outcome.csv")],
            "select, measured": ["select", "--video", VIDEO, "--scores", str(scores), "--masks", *pairs, "--pseudo",
                                 str(pseudo), "--prior", str(out / "prior.csv"), "--gt", str(gt), "--settings", s("select"),
                                 "--final", str(final), "--out", str(out / "sel.csv"), "--outcome",
                                 str(out / "outcome.csv")],
        }
        pngs = [p for folder in masks.values() for p in sorted(folder.glob("*.png"))]
        floor = best(args.repeat, lambda: [read_label_map(p) for p in pngs])
        print(f"{VIDEO} at {args.width}x{args.height}, {args.frames} frames, {args.models} models' masks, "
              f"{len(np.unique(read_label_map(first))) - 1} objects; best of {args.repeat}")
        print(f"  {'floor (decode every model PNG once)':<38} {1000 * floor / args.frames:8.1f} ms/frame    1.00x")
        results = {}
        for name, argv in stages.items():
            if name == "prior":  # the dataset's step between scores and selection (one video here): not timed
                stseg(argv)
                continue
            seconds = best(args.repeat, lambda argv=argv: stseg(argv))
            results[name] = seconds / floor
            print(f"  {name:<38} {1000 * seconds / args.frames:8.1f} ms/frame {seconds / floor:7.2f}x", flush=True)
        worst = max((k for k in results if k != "select, measured"), key=lambda k: results[k])
        print(f"worst stage: {worst} at {results[worst]:.2f}x the floor (goal: within 2x)")
        print(json.dumps({k: round(v, 3) for k, v in results.items()}))


if __name__ == "__main__":
    main()
