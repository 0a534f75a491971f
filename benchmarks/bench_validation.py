"""The dataset validation's cost at MOSE's resolution: the full decode of every frame, against reading headers only.

Generates videos of 1920x1080 JPEG frames (real DAVIS frames brought to 1080p, or the demo's without the shared
data), then times, in the same run:

* ``headers``: what the validation read before it decoded frames (PIL opens each JPEG's header);
* ``first parse``: :func:`stseg.dataset.inspect_video` without its cache: every frame decoded in full by
  libjpeg-turbo in strict mode (``simplejpeg``), on a thread pool, plus the annotation checks;
* ``cached re-parse``: the same with the cache the first parse wrote (what every later parse and job step costs).

Printed: seconds per frame of each, the ratio to ``headers``, and a projection to MOSE valid (311 videos, about
25,800 frames: MOSE's 431,725 object masks over 5,200 objects, about 83 frames each), labelled as a projection.

    python benchmarks/bench_validation.py [--videos 3] [--frames 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stseg.dataset import inspect_video  # noqa: E402
from stseg.masks import read_label_map, read_palette, write_label_map  # noqa: E402

MOSE_VALID_FRAMES = 311 * 83


def make_videos(root: Path, videos: int, frames: int, shared: Path) -> None:
    source = shared / "davis-fullgt2" / "JPEGImages" / "car-roundabout"
    annotation = shared / "davis-fullgt2" / "Annotations" / "car-roundabout" / "00000.png"
    if not source.is_dir():
        from stseg.demo import write_demo

        write_demo(root / "src", ["crowd-pan"], max_frames=frames)
        source = root / "src" / "JPEGImages" / "crowd-pan"
        annotation = root / "src" / "Annotations" / "crowd-pan" / "00000.png"
    files = sorted(source.glob("*.jpg"))[:frames]
    big = [cv2.resize(cv2.imread(str(f)), (1920, 1080), interpolation=cv2.INTER_CUBIC) for f in files]
    labels = cv2.resize(read_label_map(annotation), (1920, 1080), interpolation=cv2.INTER_NEAREST)
    for v in range(videos):
        frame_dir, ann_dir = root / "JPEGImages" / f"v{v}", root / "Annotations" / f"v{v}"
        frame_dir.mkdir(parents=True)
        for t, image in enumerate(big):
            cv2.imwrite(str(frame_dir / f"{t:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        write_label_map(ann_dir / "00000.png", labels, read_palette(annotation))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        make_videos(root, args.videos, args.frames, args.shared)
        names = [f"v{v}" for v in range(args.videos)]
        count = args.videos * args.frames
        started = time.perf_counter()
        sizes = set()
        for name in names:
            for path in sorted((root / "JPEGImages" / name).glob("*.jpg")):
                with Image.open(path) as image:
                    sizes.add(image.size)
        headers = time.perf_counter() - started
        assert sizes == {(1920, 1080)}
        cache = Path(tmp) / "cache"
        started = time.perf_counter()
        for name in names:
            inspect_video(root, name, cache)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for name in names:
            inspect_video(root, name, cache)
        cached = time.perf_counter() - started
        shutil.rmtree(cache)
    print(f"{args.videos} videos x {args.frames} frames at 1920x1080 ({count} frames), {os.cpu_count()} CPU(s)")
    for label, seconds in (("headers only", headers), ("first parse (full decode)", first), ("cached re-parse", cached)):
        per = seconds / count
        print(f"  {label:<28} {per * 1000:8.2f} ms/frame  {per / (headers / count):7.1f}x headers   "
              f"projection to MOSE valid ({MOSE_VALID_FRAMES:,} frames): {per * MOSE_VALID_FRAMES:7.1f} s")


if __name__ == "__main__":
    main()
