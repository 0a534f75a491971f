"""Per-video inference jobs against batched ones (inference.videos_per_job): where a job's wall time goes.

    python benchmarks/bench_batching.py [--videos 16] [--frames 8] [--size tiny] [--image-size 256]
                                        [--threads 1] [--device auto]

The same N videos of one model run both ways, with the commands the workflow's
rules run: N ``stseg infer`` processes (one job per video: Python, torch, the
model built and its checkpoint read, one video), and one ``stseg infer-batch``
process (one job for the N videos, the model built once).  The model is SAM 2.1
on random weights saved as a checkpoint (nothing can be downloaded here), the
videos are the demo's at 320x180 (copies of its 9 videos, cut to ``--frames``).

Per job it prints the wall time (the process, from start to exit), the model
work (segmenting the frames; building the network and reading the checkpoint
are start-up) and the share of the wall time that is model work; then the
totals and their ratio.  On a cluster each job also pays Snakemake's job step
(its re-parse of the workflow), which this benchmark leaves out: see
bench_scale.py.
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

REPO = Path(__file__).resolve().parents[1]


def stseg(*args: str, threads: int) -> tuple[float, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stseg.cli", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stdout[-2000:] + result.stderr[-4000:])
    return wall, result.stdout + result.stderr


def make_videos(root: Path, count: int, frames: int) -> list[str]:
    from stseg.demo import DEMO_VIDEOS, write_demo

    source = root / "source"
    write_demo(source, list(DEMO_VIDEOS), width=320, height=180, max_frames=frames)
    names = []
    for index in range(count):
        base = list(DEMO_VIDEOS)[index % len(DEMO_VIDEOS)]
        name = f"{base}-{index:02d}"
        for kind in ("JPEGImages", "Annotations"):
            shutil.copytree(source / kind / base, root / "data" / kind / name)
        names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="tiny", help="SAM 2.1 size: tiny, small, base_plus, large")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    import torch

    from stseg.models.sam2 import build_predictor

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_videos(root, args.videos, args.frames)
        checkpoint = root / f"sam2.1_{args.size}_random.pt"
        torch.manual_seed(0)
        torch.save({"model": build_predictor(args.size, None, "cpu", args.image_size).state_dict()}, checkpoint)
        options = json.dumps({"size": args.size, "image_size": args.image_size, "checkpoint": str(checkpoint),
                              "device": args.device})
        data = root / "data"
        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        print(f"SAM 2.1 {args.size}, random weights, image_size {args.image_size}, {device}, {args.threads} thread(s); "
              f"{args.videos} videos of {args.frames} frames at 320x180")

        print("\none job per video (stseg infer):")
        print(f"  {'job':<22} {'wall s':>7} {'model s':>8} {'start-up s':>10} {'model share':>11}")
        single_wall = single_model = 0.0
        for name in names:
            wall, out = stseg("infer", "--model-type", "sam2", "--quiet", "--options", options, "--frames",
                              str(data / "JPEGImages" / name), "--annotation", str(data / "Annotations" / name / "00000.png"),
                              "--out", str(root / "single" / name), threads=args.threads)
            line = next(line for line in out.splitlines() if line.startswith("sam2:"))
            model = float(line.split(" in ")[1].split(" s")[0]) - float(line.split("building the model: ")[1].split(" s")[0])
            single_wall, single_model = single_wall + wall, single_model + model
            print(f"  {name:<22} {wall:7.2f} {model:8.2f} {wall - model:10.2f} {model / wall:11.1%}")

        print(f"\none job for the {args.videos} videos (stseg infer-batch):")
        videos = json.dumps([{"video": n, "frames": str(data / "JPEGImages" / n),
                              "annotation": [str(data / "Annotations" / n / "00000.png")], "stamp": "bench"} for n in names])
        wall, _ = stseg("infer-batch", "--model-type", "sam2", "--quiet", "--options", options, "--videos", videos,
                        "--staging", str(root / "batch"), "--record", str(root / "batch.json"), threads=args.threads)
        record = json.loads((root / "batch.json").read_text())
        batch_model = record["model_seconds"]
        print(f"  {'job':<22} {'wall s':>7} {'model s':>8} {'start-up s':>10} {'model share':>11}")
        print(f"  {'batch of ' + str(args.videos):<22} {wall:7.2f} {batch_model:8.2f} {wall - batch_model:10.2f} "
              f"{batch_model / wall:11.1%}")
        same = all((root / "single" / n / f).read_bytes() == (root / "batch" / n / f).read_bytes()
                   for n in names for f in os.listdir(root / "single" / n))

        print("\ntotal:")
        print(f"  per-video jobs  {single_wall:8.2f} s wall, {single_model / single_wall:6.1%} model work")
        print(f"  batched job     {wall:8.2f} s wall, {batch_model / wall:6.1%} model work")
        print(f"  per-video / batched wall time: {single_wall / wall:.2f}x; masks byte-identical: {same}")
        startup = (single_wall - single_model) / len(names)
        print(f"\nstart-up per job here: {startup:.2f} s (Python, torch, the model built and its checkpoint read).")


if __name__ == "__main__":
    main()
