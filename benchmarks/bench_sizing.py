"""Sizing a MOSE run: each model's job on the CPU at MOSE's resolution (measured) and on a GPU (projected).

For every model given (default: the built-ins, SAM 2.1 tiny, base+ and large, Cutie base), a real DAVIS
video's first ``--frames`` frames are brought to 1920x1080 (MOSE valid's largest frames; the annotation
nearest-neighbour), and the model runs on them as a workflow job does: ``stseg infer`` in a fresh process, one
CPU thread, random weights (``random_init``: nothing can be downloaded here, and neither speed nor memory depends
on the weights), ``--record`` writing the job's own record (``stseg.job_record``).  Printed per model, measured:

* ``s/frame CPU``: the job's model work per frame (its wall time less building the network, over its frames);
* ``build s``: building the network and reading its checkpoint, once per job;
* ``peak host MB``: the job's maximum resident set (what ``models.<name>.mem_mb`` must cover).

Projected, labelled as projections (no GPU here):

* ``GPU MB (proj.)``: the job's peak host memory above a process that only imported torch (measured in the
  same run), plus 500 MB for the CUDA context: the weights and activations are the same float32 tensors on the
  GPU, so this bounds what torch's counter would show (less under bfloat16 autocast);
* ``s/frame GPU (proj.)``: the model's published A100 speed (``PUBLISHED_FPS``, with its source) where one
  exists;
* ``GPU-h MOSE valid (proj.)``: 25,800 frames at that speed plus one start-up (``build s`` on the CPU, an upper
  bound) per job of 16 videos (311 videos: 20 jobs).

The external models run when their checkout (and interpreter) is given: ``--repo xmem=/path/to/XMem --python
xmem=/path/to/venv/bin/python``; SAM 3 and EdgeTAM likewise with their environments' ``--python``.

    python benchmarks/bench_sizing.py [--frames 6] [--models copy flow sam2:base_plus cutie ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stseg.masks import read_label_map, read_palette, write_label_map  # noqa: E402

MOSE_VALID_FRAMES = 311 * 83  # MOSE's 431,725 object masks over 5,200 objects: about 83 frames a video
MOSE_VALID_JOBS = -(-311 // 16)  # inference.gpu_videos_per_job: 16
CUDA_CONTEXT_MB = 500

#: published A100 frames/s: SAM 2.1 from the sam2 README's model table, Cutie base and XMem from the Cutie paper's
#: table (MOSE setting, 480p); the others publish none
PUBLISHED_FPS = {"sam2:tiny": 91.2, "sam2:small": 84.8, "sam2:base_plus": 64.1, "sam2:large": 39.5, "cutie": 65.0,
                 "xmem": 61.0}

DEFAULT_MODELS = ["copy", "flow", "global", "appearance", "sam2:tiny", "sam2:base_plus", "sam2:large", "cutie"]

TORCH_ONLY = "import resource, torch; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"


def make_clip(shared: Path, frames: int, out: Path) -> tuple[Path, Path]:
    """The first ``frames`` frames of a real DAVIS video at 1920x1080 and its first-frame annotation."""
    video = shared / "davis-fullgt2" / "JPEGImages" / "car-roundabout"
    annotation = shared / "davis-fullgt2" / "Annotations" / "car-roundabout" / "00000.png"
    if not video.is_dir():
        sys.exit(f"bench_sizing: {video} is missing: this benchmark needs the shared DAVIS data (../shared/data)")
    (out / "frames").mkdir(parents=True)
    for path in sorted(video.glob("*.jpg"))[:frames]:
        image = cv2.resize(cv2.imread(str(path)), (1920, 1080), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(out / "frames" / path.name), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    labels = cv2.resize(read_label_map(annotation).astype(np.uint8), (1920, 1080), interpolation=cv2.INTER_NEAREST)
    write_label_map(out / "00000.png", labels, read_palette(annotation))
    return out / "frames", out / "00000.png"


def model_options(spec: str, repos: dict[str, str]) -> tuple[str, dict]:
    name, _, size = spec.partition(":")
    options: dict = {}
    if name in {"sam2", "cutie", "xmem", "livos", "tmo", "edgetam", "sam3"}:
        options = {"random_init": True, "device": "cpu"}
    if size:
        options["size"] = size
    if name in repos:
        options["repo"] = repos[name]
    return name, options


def run_job(spec: str, frames: Path, annotation: Path, work: Path, repos: dict[str, str], pythons: dict[str, str]) -> dict:
    name, options = model_options(spec, repos)
    record = work / f"{spec.replace(':', '-')}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    python = pythons.get(name, sys.executable)
    done = subprocess.run([python, "-m", "stseg", "infer", "--model-type", name, "--options", json.dumps(options),
                           "--frames", str(frames), "--annotation", str(annotation), "--out", str(work / spec),
                           "--record", str(record), "--quiet"], capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(record.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="model types, SAM 2 as sam2:<size>")
    parser.add_argument("--repo", nargs="*", default=[], help="MODEL=CHECKOUT of an external model")
    parser.add_argument("--python", nargs="*", default=[], help="MODEL=INTERPRETER of a model's own environment")
    args = parser.parse_args()
    repos = dict(item.split("=", 1) for item in args.repo)
    pythons = dict(item.split("=", 1) for item in args.python)

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torch_mb = float(subprocess.run([sys.executable, "-c", TORCH_ONLY], capture_output=True, text=True, env=env,
                                    check=True).stdout)
    with tempfile.TemporaryDirectory() as tmp:
        frames, annotation = make_clip(args.shared, args.frames, Path(tmp) / "clip")
        print(f"{args.frames} frames at 1920x1080 (davis-fullgt2/car-roundabout brought to MOSE's largest size), one "
              f"object, one CPU thread, random weights; a process with torch imported: {torch_mb:.0f} MB")
        print(f"{'model':<16} {'s/frame CPU':>11} {'build s':>8} {'peak host MB':>12} | {'GPU MB (proj.)':>14} "
              f"{'s/frame GPU (proj.)':>19} {'GPU-h MOSE valid (proj.)':>24}")
        for spec in args.models:
            row = run_job(spec, frames, annotation, Path(tmp), repos, pythons)
            if "error" in row:
                print(f"{spec:<16} did not run: {row['error']}")
                continue
            build = float(row.get("load_seconds", 0.0))
            per_frame = (row["seconds"] - build) / max(row["frames"] - 1, 1)  # the first frame is the annotation
            uses_torch = row.get("torch") is not None
            gpu_mb = f"{row['peak_host_mb'] - torch_mb + CUDA_CONTEXT_MB:14.0f}" if uses_torch else f"{'-':>14}"
            fps = PUBLISHED_FPS.get(spec) or PUBLISHED_FPS.get(spec.split(":")[0])
            gpu_s = f"{1 / fps:19.4f}" if fps else f"{'no published':>19}"
            hours = f"{(MOSE_VALID_FRAMES / fps + MOSE_VALID_JOBS * build) / 3600:24.2f}" if fps else f"{'-':>24}"
            print(f"{spec:<16} {per_frame:11.3f} {build:8.2f} {row['peak_host_mb']:12.0f} | {gpu_mb} {gpu_s} {hours}",
                  flush=True)


if __name__ == "__main__":
    main()
