"""Speed of the built-in models on one CPU core at 480p, against the I/O floor measured in the same run.

    python benchmarks/bench_models.py [--root data/demo] [--video crowd-pan] [--repeat 3]

For every built-in model: frames per second of ``step`` alone (frames decoded
beforehand) and of the whole job (``stseg.inference.run_model``: decode the
JPEG, step, write the palette PNG).  The reference, timed in the same run, is
the job's I/O alone (decode every JPEG and write the first mask for every
frame); "x floor" is the model job's time over that I/O time.  OpenCV runs on
one thread (``cv2.setNumThreads(1)``), like a one-core laptop or a one-CPU job.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from stseg.dataset import list_frames, read_frames
from stseg.inference import run_model
from stseg.masks import read_label_map, write_label_map
from stseg.models import build_model

BUILTINS = ("copy", "flow", "global", "appearance")


def best_of(repeat: int, function) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("data/demo"))
    parser.add_argument("--video", default="crowd-pan")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frame_dir = args.root / "JPEGImages" / args.video
    annotation = args.root / "Annotations" / args.video / "00000.png"
    files = list_frames(frame_dir)
    frames = list(read_frames(files))
    labels0 = read_label_map(annotation)
    height, width = labels0.shape
    steps = len(frames) - 1
    print(f"video {args.video}: {len(frames)} frames at {width}x{height}; one OpenCV thread; best of {args.repeat}")

    with tempfile.TemporaryDirectory() as tmp:
        def io_only() -> None:
            for index, _ in enumerate(read_frames(files)):
                write_label_map(Path(tmp) / "io" / f"{index:05d}.png", labels0)

        floor = best_of(args.repeat, io_only)
        print(f"  I/O floor (decode JPEG + write PNG): {len(frames) / floor:7.1f} frames/s")
        print(f"  {'model':<12} {'step frames/s':>14} {'job frames/s':>13} {'x floor':>8}  >= 10 frames/s")
        for name in BUILTINS:
            def steps_only() -> None:
                model = build_model(name)
                model.start(frames[0], labels0)
                for frame in frames[1:]:
                    model.step(frame)

            step_time = best_of(args.repeat, steps_only)
            job_time = best_of(args.repeat, lambda: run_model(name, {}, frame_dir, annotation, Path(tmp) / name, progress=False))
            job_fps = len(frames) / job_time
            print(f"  {name:<12} {steps / step_time:14.1f} {job_fps:13.1f} {job_time / floor:8.2f}  {'yes' if job_fps >= 10 else 'NO'}")


if __name__ == "__main__":
    main()
