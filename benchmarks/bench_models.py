"""Speed of the built-in models on one CPU core at 480p, against the I/O floor measured in the same run.

    python benchmarks/bench_models.py [--root data/demo] [--video crowd-pan] [--repeat 3]
                                      [--trackers] [--edgetam-python VENV/bin/python] [--tracker-frames 10]

For every built-in model: frames per second of ``step`` alone (frames decoded
beforehand) and of the whole job (``stseg.inference.run_model``: decode the
JPEG, step, write the palette PNG).  The reference, timed in the same run, is
the job's I/O alone (decode every JPEG and write the first mask for every
frame); "x floor" is the model job's time over that I/O time.  OpenCV runs on
one thread (``cv2.setNumThreads(1)``), like a one-core laptop or a one-CPU job.

``--trackers``: also the learned trackers a laptop can run, on random weights (nothing can be downloaded here;
speed does not depend on the weights): SAM 2.1 tiny at its released 1024-pixel input, and EdgeTAM from its own
environment (``--edgetam-python``), each as a job (``stseg infer`` in a fresh process, one thread), on the first
``--tracker-frames`` frames; frames/s of the model work (the network built and its checkpoint read are left
out) and the ratio EdgeTAM / SAM 2.1 tiny.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
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
    parser.add_argument("--trackers", action="store_true", help="also SAM 2.1 tiny and EdgeTAM (random weights)")
    parser.add_argument("--edgetam-python", help="the python of EdgeTAM's own environment (README: EdgeTAM)")
    parser.add_argument("--tracker-frames", type=int, default=10)
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
        if args.trackers:
            trackers(args, files, annotation, Path(tmp))


REPO = Path(__file__).resolve().parents[1]


def tracker_fps(python: str, model: str, options: dict, frames: Path, annotation: Path, out: Path) -> float:
    """Frames/s of a tracker's model work, from its ``stseg infer`` job on one thread."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([python, "-m", "stseg.cli", "infer", "--model-type", model, "--quiet", "--options",
                           json.dumps(options), "--frames", str(frames), "--annotation", str(annotation), "--out", str(out)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-3000:])
    line = next(line for line in done.stdout.splitlines() if line.startswith(f"{model}:"))
    frames_done = int(line.split(": ")[1].split(" frames")[0])
    seconds = float(line.split(" in ")[1].split(" s")[0]) - float(line.split("building the model: ")[1].split(" s")[0])
    return (frames_done - 1) / seconds


def trackers(args: argparse.Namespace, files: list[Path], annotation: Path, tmp: Path) -> None:
    import torch

    clip = tmp / "clip"
    clip.mkdir()
    for path in files[: args.tracker_frames]:
        shutil.copy(path, clip / path.name)
    torch.manual_seed(0)
    from stseg.models.sam2 import build_predictor

    sam2 = tmp / "sam2-tiny-random.pt"
    torch.save({"model": build_predictor("tiny", None, "cpu", 1024).state_dict()}, sam2)
    objects = len(set(read_label_map(annotation).flat) - {0})
    print(f"\n  learned trackers, random weights, {args.tracker_frames} frames, {objects} objects, one thread, as jobs "
          "(model work only; EdgeTAM tracks each object on its own):")
    base = tracker_fps(sys.executable, "sam2", {"size": "tiny", "checkpoint": str(sam2), "device": "cpu"}, clip,
                       annotation, tmp / "sam2-out")
    print(f"  {'sam2 tiny':<12} {base:8.2f} frames/s  (1024-pixel input)")
    if not args.edgetam_python:
        print("  edgetam: no --edgetam-python given (README: EdgeTAM)")
        return
    edgetam = tmp / "edgetam-random.pt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([args.edgetam_python, "-c", "from stseg.models.edgetam import write_random_checkpoint; "
                    f"write_random_checkpoint({str(edgetam)!r})"], check=True, env=env, capture_output=True)
    fps = tracker_fps(args.edgetam_python, "edgetam", {"checkpoint": str(edgetam), "device": "cpu"}, clip, annotation,
                      tmp / "edgetam-out")
    print(f"  {'edgetam':<12} {fps:8.2f} frames/s  (1024-pixel input; {fps / base:.2f}x sam2 tiny)")


if __name__ == "__main__":
    main()
