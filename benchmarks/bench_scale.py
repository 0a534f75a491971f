"""Workflow cost at MOSE scale and beyond: dry run, no-op rerun, scheduling overhead per job.

    python benchmarks/bench_scale.py [--videos 331 3310] [--run-videos 20] [--layouts 1x1 16x1 16x16]

Generates projects of N tiny videos (3 frames of 64x36; the graph's cost does
not depend on the pixels) with 6 model instances, like MOSE's test set (331
videos) and ten times that, and times with the default profile (greedy
scheduler):

* the dry run of the whole project with a cold and with a warm validation cache;
* the no-op rerun (up to ``--noop-max`` videos): every output created in
  dependency order and marked done (``--touch``), then a dry run that must find
  nothing to do;
* a real local run of ``--run-videos`` videos, giving the scheduling overhead
  per job: (wall time x cores - the jobs' own time from their benchmark files) / jobs;
* the job step: what a cluster job spends before its command starts, Snakemake
  re-parsing the workflow for that one job (``--target-jobs``, as the SLURM
  executor's job step does), and the part of it that is stseg's own parse
  (config validation, the dataset's validation cache, the plan);

each for every ``--layouts`` entry ``NxK``: N videos per inference job
(``inference.videos_per_job``) and K per job of the light stages
(``stages.videos_per_job``; K > 1 is the chunked layout, stseg/chunks.py).
``1x1`` is the per-video layout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "copy": {"type": "copy"}, "flow": {"type": "flow"}, "global": {"type": "global"},
    "appearance": {"type": "appearance"}, "copy-b": {"type": "copy"}, "flow-fast": {"type": "flow", "options": {"preset": "ultrafast"}},
}


def make_project(root: Path, videos: int) -> None:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    frame = root / "frame.jpg"
    Image.fromarray(rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)).save(frame, quality=90)
    labels = np.zeros((36, 64), np.uint8)
    labels[10:20, 10:30] = 1
    from stseg.masks import write_label_map

    mask = root / "mask.png"
    write_label_map(mask, labels)
    for v in range(videos):
        name = f"v{v:05d}"
        (root / "JPEGImages" / name).mkdir(parents=True)
        (root / "Annotations" / name).mkdir(parents=True)
        for t in range(3):
            os.link(frame, root / "JPEGImages" / name / f"{t:05d}.jpg")
        os.link(mask, root / "Annotations" / name / "00000.png")


def fabricate_outputs(results: Path, videos: int, per_job: int = 1, chunk: int = 1) -> None:
    """Create every output of the workflow in dependency order (``--touch`` only refreshes existing files), with the
    records of batched inference (``per_job``) and of the chunked layout (``chunk``) after what they own."""
    names = [f"v{v:05d}" for v in range(videos)]

    def records(kind: str, size: int) -> list[Path]:
        return [results / kind / f"{k:05d}.json" for k in range((videos + size - 1) // size)] if size > 1 else []

    batch_records = [p for m in MODELS for p in records(f"batches/{m}", per_job)] if chunk > 1 else []
    stages = [
        [results / "masks" / m / n for m in MODELS for n in names],
        batch_records,
        [results / "boxes" / f"{n}.csv" for n in names] + [results / "fused" / f"{n}.csv" for n in names],
        [results / "pseudo" / n for n in names] + [results / "weights" / f"{n}.csv" for n in names],
        [results / "scores" / f"{n}.csv" for n in names],
        records("chunks/refine", chunk),
        [results / "prior.csv"],
        [results / "final" / n for n in names] + [results / stage / f"{n}.csv" for n in names for stage in ("selection", "outcome")],
        [results / "report" / "overlays" / f"{n}.{ext}" for n in names for ext in ("png", "jpg")],
        records("chunks/select", chunk),
        [results / f for f in ("summary.csv", "summary_overall.csv", "summary.txt", "submission.zip")],
        [results / "report" / "scores.png", results / "report" / "summary.html"],
    ]
    for stage in stages:
        for path in stage:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".json":
                path.write_text("{}")
            elif path.suffix:
                path.touch()
            else:  # a per-frame folder: a PNG per frame (stseg remakes a folder output that lost one)
                path.mkdir(exist_ok=True)
                for t in range(3):
                    (path / f"{t:05d}.png").touch()
        time.sleep(0.02)  # strictly increasing mtimes stage after stage


def snakemake(workdir: Path, *args: str) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(workdir / "config.yaml"), *args],  # profiles/default: auto-loaded
                          capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-3000:])
    return elapsed, done.stdout + done.stderr


def project(tmp: Path, videos: int, per_job: int = 1, chunk: int = 1) -> Path:
    workdir = tmp / f"p{videos}-{per_job}x{chunk}"
    workdir.mkdir()
    data = tmp / f"data{videos}"
    if not data.is_dir():
        make_project(data, videos)
    (workdir / "config.yaml").write_text(yaml.safe_dump(
        {"dataset": {"root": str(data)}, "results": str(workdir / "results"), "models": MODELS,
         "inference": {"videos_per_job": per_job}, "stages": {"videos_per_job": chunk}}))
    return workdir


def job_step(workdir: Path, per_job: int = 1) -> tuple[float, float]:
    """Seconds of a job step's re-parse for one inference job, and of stseg's own parse within it."""
    rule, target = ("infer", "video=v00000") if per_job == 1 else ("infer_batch", "batch=00000")
    wall, _ = snakemake(workdir, "--target-jobs", f"{rule}:model=flow,{target}", "--allowed-rules", rule,
                        "--nolock", "--no-hooks", "--dry-run", "--quiet")
    code = ("import time, yaml; from snakemake.utils import validate; t = time.perf_counter(); "
            "from stseg.workflow import Plan, load_schema; c = yaml.safe_load(open('config.yaml')); "
            "validate(c, schema=str(load_schema())); Plan.from_config(c); print(time.perf_counter() - t)")
    own = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, check=True)
    return wall, float(own.stdout)


def layout(text: str) -> tuple[int, int]:
    per_job, _, chunk = text.partition("x")
    return int(per_job), int(chunk or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[331, 3310])
    parser.add_argument("--run-videos", type=int, default=20)
    parser.add_argument("--noop-max", type=int, default=331, help="time the no-op rerun up to this many videos")
    parser.add_argument("--layouts", type=layout, nargs="+", default=[(1, 1), (16, 1), (16, 16)],
                        help="NxK: N videos per inference job, K per job of the light stages (1x1: per video)")
    args = parser.parse_args()
    print(f"{len(MODELS)} models per video, default profile (greedy scheduler), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for videos in args.videos:
            reference = None
            for per_job, chunk in args.layouts:
                workdir = project(Path(tmp), videos, per_job, chunk)
                cold, out = snakemake(workdir, "--dry-run", "--quiet", "all")
                warm, _ = snakemake(workdir, "--dry-run", "--quiet", "all")
                jobs = next(int(line.split()[-1]) for line in out.splitlines() if line.strip().startswith("total"))
                reference = reference or cold
                line = (f"  {videos:>5} videos, {per_job:>2}x{chunk:<2} per job, {jobs:>6} jobs: dry run {cold:6.2f} s "
                        f"(cold cache, {reference / cold:5.2f}x the first layout's), {warm:6.2f} s (warm)")
                if per_job == 1 or chunk > 1:  # (16x1: the batch job's inputs are its videos' request jobs' outputs)
                    step, own = job_step(workdir, per_job)
                    line += f"; job step {step:.2f} s (stseg's parse {own:.2f} s)"
                if videos <= args.noop_max and (per_job == 1 or chunk > 1):  # (16x1's take jobs need real records)
                    fabricate_outputs(workdir / "results", videos, per_job, chunk)
                    snakemake(workdir, "--touch", "--cores", "2", "--quiet", "all")
                    noop, out = snakemake(workdir, "--dry-run")
                    assert "Nothing to be done" in out, out[-500:]
                    line += f"; no-op rerun {noop:6.2f} s"
                print(line, flush=True)
                shutil.rmtree(workdir)
        workdir = project(Path(tmp), args.run_videos)
        wall, out = snakemake(workdir, "--cores", "2")
        own = 0.0
        count = 0
        for bench in (workdir / "results" / "benchmarks").rglob("*.tsv"):
            own += float(bench.read_text().splitlines()[1].split("\t")[0])
            count += 1
        print(f"  real run of {args.run_videos} videos: {count} jobs in {wall:.1f} s on 2 cores; jobs' own time {own:.1f} s; "
              f"overhead per job {(wall * 2 - own) / count:.3f} s")


if __name__ == "__main__":
    main()
