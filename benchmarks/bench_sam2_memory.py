"""Peak memory of stseg's SAM2 job against the unmodified predictor, for videos of growing length (CPU).

    python benchmarks/bench_sam2_memory.py [--lengths 50 200 800] [--image-size 256] [--size tiny]

Each measurement runs in a fresh process: a randomly initialised SAM 2.1 model
(no checkpoint can be downloaded here; memory does not depend on the weights)
segments a video made by repeating the demo video ``fast-ball`` (320x180, one
object) back and forth to the wanted length, once with ``bounded_memory: true``
(stseg) and once with ``false`` (the predictor as released: every frame decoded
at ``init_state``, every frame's memory kept).  The process's peak resident
set (VmHWM) is printed, with the ratio and the frames per second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time, torch
torch.manual_seed(0)
from stseg.inference import run_model
options = json.loads(sys.argv[1])
start = time.perf_counter()
stats = run_model("sam2", options, sys.argv[2], sys.argv[3], sys.argv[4], progress=False)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"peak_mb": int(peak) / 1024, "fps": stats["fps"]}))
"""


def make_video(source: Path, annotation: Path, length: int, out: Path) -> tuple[Path, Path]:
    frames = sorted(source.glob("*.jpg"))
    cycle = frames + frames[-2:0:-1]
    folder = out / f"v{length}"
    folder.mkdir(parents=True)
    for index in range(length):
        os.link(cycle[index % len(cycle)], folder / f"{index:05d}.jpg")
    return folder, annotation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--size", default="tiny")
    args = parser.parse_args()
    from stseg.demo import write_demo

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        write_demo(root, ["fast-ball"], width=320, height=180)
        source = root / "JPEGImages" / "fast-ball"
        annotation = root / "Annotations" / "fast-ball" / "00000.png"
        print(f"SAM 2.1 {args.size}, random weights, image_size {args.image_size}, CPU, 320x180 frames, 1 object")
        print(f"  {'frames':>6} {'unmodified MB':>14} {'stseg MB':>9} {'stseg/unmod.':>12} {'fps unmod.':>10} {'fps stseg':>9}")
        for length in args.lengths:
            frames, ann = make_video(source, annotation, length, Path(tmp))
            result = {}
            for bounded in (False, True):
                options = {"size": args.size, "image_size": args.image_size, "device": "cpu", "random_init": True,
                           "bounded_memory": bounded}
                out = Path(tmp) / f"out-{length}-{bounded}"
                done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(options), str(frames), str(ann), str(out)],
                                      capture_output=True, text=True, check=True)
                result[bounded] = json.loads(done.stdout.strip().splitlines()[-1])
                shutil.rmtree(out)
            plain, mine = result[False], result[True]
            print(f"  {length:>6} {plain['peak_mb']:14.0f} {mine['peak_mb']:9.0f} {mine['peak_mb'] / plain['peak_mb']:12.2f}"
                  f" {plain['fps']:10.2f} {mine['fps']:9.2f}", flush=True)


if __name__ == "__main__":
    main()
