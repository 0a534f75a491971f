"""J&F speed: stseg against vos-benchmark (and the official DAVIS 2017 code when given), same masks, one run.

    python benchmarks/bench_metrics.py --gt data/demo/Annotations --pred results/masks/flow \
        [--official /path/to/davis2017-evaluation] [--workers 2] [--repeat 3]

Prints, for each implementation, the time to score every (frame, object) pair
single-process and with N workers, the throughput in frames x objects per second
and the ratio to stseg measured in the same run; and the floor: the time it
takes only to decode the PNGs (ground truth and prediction) of the scored frames.
The official code reads the DAVIS layout (Annotations/480p, JPEGImages/480p,
ImageSets/2017), so a temporary tree of symbolic links is made for it (the
frames are taken from the JPEGImages folder beside --gt).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from stseg.metrics import evaluate


def videos_of(gt_root: Path) -> list[str]:
    return sorted(p.name for p in gt_root.iterdir() if p.is_dir() and not p.name.startswith("."))


def count_pairs(gt_root: Path, videos: list[str]) -> int:
    total = 0
    for video in videos:
        frames = sorted((gt_root / video).glob("*.png"))
        objects = len([i for i in np.unique(np.asarray(Image.open(frames[0]))) if i not in (0, 255)])
        total += (len(frames) - 2) * objects
    return total


def _decode_video(args: tuple[Path, Path, str]) -> int:
    gt_root, pred_root, video = args
    frames = sorted((gt_root / video).glob("*.png"))[1:-1]
    for path in frames:
        np.asarray(Image.open(path))
        np.asarray(Image.open(pred_root / video / path.name))
    return len(frames)


def run_decode(gt_root: Path, pred_root: Path, videos: list[str], workers: int) -> None:
    tasks = [(gt_root, pred_root, v) for v in videos]
    if workers == 1:
        for task in tasks:
            _decode_video(task)
    else:
        with Pool(workers) as pool:
            pool.map(_decode_video, tasks)


def run_stseg(gt_root: Path, pred_root: Path, videos: list[str], workers: int) -> float:
    return float(evaluate(gt_root, pred_root, videos, workers=workers)["JF"].mean())


def run_vos_benchmark(gt_root: Path, pred_root: Path, videos: list[str], workers: int) -> float:
    from vos_benchmark.benchmark import VideoEvaluator

    evaluator = VideoEvaluator(str(gt_root), str(pred_root))
    if workers == 1:
        results = [evaluator(v) for v in videos]
    else:
        with Pool(workers) as pool:
            results = pool.map(evaluator, videos)
    values = [(iou[o] + bf[o]) / 200 for _, iou, bf in results for o in iou]
    return float(np.mean(values))


def official_tree(gt_root: Path, videos: list[str], workdir: Path) -> Path:
    root = workdir / "davis"
    (root / "Annotations" / "480p").mkdir(parents=True)
    (root / "JPEGImages" / "480p").mkdir(parents=True)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    for video in videos:
        os.symlink(gt_root.resolve() / video, root / "Annotations" / "480p" / video)
        os.symlink(gt_root.resolve().parent / "JPEGImages" / video, root / "JPEGImages" / "480p" / video)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(v + "\n" for v in videos))
    return root


def _official_video(args: tuple[str, Path, Path, str]) -> list[float]:
    code, davis_root, pred_root, video = args
    sys.path.insert(0, code)
    from davis2017.evaluation import DAVISEvaluation

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = DAVISEvaluation(str(davis_root), "semi-supervised", "val", sequences=[video]).evaluate(str(pred_root))
    return [(j + f) / 2 for j, f in zip(result["J"]["M"], result["F"]["M"])]


def run_official(code: str, davis_root: Path, pred_root: Path, videos: list[str], workers: int) -> float:
    tasks = [(code, davis_root, pred_root, v) for v in videos]
    if workers == 1:
        values = [x for t in tasks for x in _official_video(t)]
    else:
        with Pool(workers) as pool:
            values = [x for chunk in pool.map(_official_video, tasks) for x in chunk]
    return float(np.mean(values))


def timed(function, repeat: int) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, default=Path("data/demo/Annotations"))
    parser.add_argument("--pred", type=Path, default=Path("results/masks/flow"))
    parser.add_argument("--official", help="a checkout of davisvideochallenge/davis2017-evaluation")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)
    videos = videos_of(args.gt)
    pairs = count_pairs(args.gt, videos)
    print(f"{len(videos)} videos, {pairs} scored (frame, object) pairs; best of {args.repeat} runs; cv2 threads = 1")
    with tempfile.TemporaryDirectory() as tmp:
        contenders = {
            "decode PNGs only (floor)": lambda w: run_decode(args.gt, args.pred, videos, w),
            "stseg": lambda w: run_stseg(args.gt, args.pred, videos, w),
            "vos-benchmark 0.1.0": lambda w: run_vos_benchmark(args.gt, args.pred, videos, w),
        }
        if args.official:
            davis_root = official_tree(args.gt, videos, Path(tmp))
            contenders["official davis2017-evaluation"] = lambda w: run_official(args.official, davis_root, args.pred, videos, w)
        for workers in (1, args.workers):
            print(f"\n{workers} process{'es' if workers > 1 else ''}:")
            print(f"  {'implementation':<32} {'seconds':>8} {'pairs/s':>9} {'time / stseg':>13}  J&F")
            measured = {name: timed(lambda: function(workers), args.repeat) for name, function in contenders.items()}
            for name, (seconds, value) in measured.items():
                ratio = seconds / measured["stseg"][0]
                shown = "" if value is None else f"{value:.12f}"
                print(f"  {name:<32} {seconds:8.3f} {pairs / seconds:9.0f} {ratio:13.2f}  {shown}")


if __name__ == "__main__":
    main()
