"""The disk that kept probabilities take (``probs/<frame>.npz``), measured, and projected to MOSE's valid split.

Two measurements on a real multi-object DAVIS video at 854x480 (``davis-multiobj-extra``):

* SAM 2.1 tiny with random weights, its own probabilities (``probabilities: true``) on the video's first frames:
  random weights give noisy, unsaturated maps, so this is a worst case for compression;
* a trained model's maps, approximated: each object's mask of a real method (DINO's published masks) blurred by a
  Gaussian of 1.5 px, the soft edge of a trained model's probabilities with saturated 0 and 1 elsewhere.

Printed: bytes per object and frame; the projection to MOSE valid (311 videos, about 62,500 object-frames at
1920x1080: MOSE's 431,725 masks over 2,149 videos, times 311) scales the bytes by the pixel count, labelled as a
projection.

    python benchmarks/bench_probabilities.py [--shared ../shared/data] [--frames 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stseg.masks import object_ids, read_label_map  # noqa: E402
from stseg.probabilities import write_probabilities  # noqa: E402

VIDEO = "soapbox"
MOSE_VALID_OBJECT_FRAMES = 431_725 * 311 / 2_149
SCALE_1080P = (1920 * 1080) / (854 * 480)


def proxy_sizes(root: Path, frames: int, out: Path) -> list[int]:
    """Bytes per object-frame of the blurred real masks."""
    sizes = []
    masks = sorted((root / "Results" / "dino" / VIDEO).glob("*.png"))[1:frames + 1]
    for path in masks:
        labels = read_label_map(path)
        probs = {o: cv2.GaussianBlur((labels == o).astype(np.float32), (0, 0), 1.5) for o in object_ids(labels)}
        target = out / f"{path.stem}.npz"
        write_probabilities(target, probs)
        sizes.append(target.stat().st_size / max(1, len(probs)))
    return sizes


def sam2_sizes(root: Path, frames: int, out: Path) -> list[int] | None:
    try:
        import torch

        from stseg.inference import run_model
        from stseg.models.sam2 import build_predictor
    except ImportError:
        return None
    data = out / "data"
    (data / VIDEO).mkdir(parents=True)
    for path in sorted((root / "JPEGImages" / VIDEO).glob("*.jpg"))[:frames + 1]:
        (data / VIDEO / path.name).symlink_to(path)
    torch.manual_seed(0)
    checkpoint = out / "sam2-random.pt"
    torch.save({"model": build_predictor("tiny", None, "cpu", 256).state_dict()}, checkpoint)
    masks = out / "masks"
    run_model("sam2", {"size": "tiny", "image_size": 256, "device": "cpu", "checkpoint": str(checkpoint),
                       "probabilities": True}, data / VIDEO, root / "Annotations" / VIDEO / "00000.png", masks,
              progress=False)
    objects = len(object_ids(read_label_map(root / "Annotations" / VIDEO / "00000.png")))
    return [p.stat().st_size / objects for p in sorted((masks / "probs").glob("*.npz"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args()
    root = args.shared / "davis-multiobj-extra"
    if not root.is_dir():
        raise SystemExit(f"{root} absent: the benchmark needs the shared DAVIS data")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("trained-model proxy (DINO masks, 1.5 px blur)", proxy_sizes(root, args.frames, Path(tmp)))]
        sam2 = sam2_sizes(root, args.frames, Path(tmp) / "sam2")
        if sam2 is not None:
            rows.append(("SAM 2.1 tiny, random weights (worst case)", sam2))
    print(f"{VIDEO} (DAVIS, 854x480, 3 objects), {args.frames} frames: bytes of probs/<frame>.npz per object and frame")
    for label, sizes in rows:
        mean = float(np.mean(sizes))
        projected = mean * SCALE_1080P * MOSE_VALID_OBJECT_FRAMES / 2**30
        print(f"  {label:<46} {mean / 1024:8.1f} KiB   projection to MOSE valid at 1080p: {projected:6.1f} GiB per model")
    print(f"  (the masks themselves: PNGs of about {mask_kib(root, args.frames):.1f} KiB per frame)")


def mask_kib(root: Path, frames: int) -> float:
    paths = sorted((root / "Results" / "dino" / VIDEO).glob("*.png"))[1:frames + 1]
    return float(np.mean([p.stat().st_size for p in paths])) / 1024


if __name__ == "__main__":
    main()
