"""The inputs on which stseg's MOSE J&Ḟ is compared with MOSEv2's official scorer, and that scorer's own output.

Two sets, both in the DAVIS layout (``gt/<video>/<frame>.png``, ``pred/<video>/<frame>.png``):

* ``edges`` (generated here, deterministic): at 854×480, an object larger than
  the radius cap, one smaller (radius 2), one that leaves the frame and comes
  back, empty predictions, false positives on frames where the ground truth is
  empty, and an object absent from every frame but the first.
* ``davis`` (the real DAVIS videos in ``../shared/data/davis-fullgt``): their
  ground truth against the OSVOS results, and against the OSVOS results shifted
  by (7, -4) pixels.

``official_rows`` runs the official code itself (``MOSEv2/sam2_rcms/tools`` of a
henghuiding/MOSE-api checkout: ``score.process_video_chunk`` and
``score.merge_chunk_results``) and returns per-frame and per-object values;
``python tests/mose_cases.py MOSE_API_CHECKOUT`` writes them to
``tests/data/mose_reference.csv`` so that CI checks them without the checkout.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "data" / "mose_reference.csv"
SHIFT = (7, -4)


def _save(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [0] * (768 - 15))
    image.save(path)


def write_edges(root: Path) -> None:
    """The generated edge cases (``root/gt``, ``root/pred``)."""
    rng = np.random.default_rng(7)
    height, width, frames = 480, 854, 12
    yy, xx = np.mgrid[:height, :width]
    for t in range(frames):
        gt = np.zeros((height, width), np.uint8)
        pred = np.zeros_like(gt)
        # 1: large ellipse (area ~ 30k px: radius at the cap), moving; prediction shifted and dilated
        cx, cy = 250 + 6 * t, 240
        gt[((xx - cx) / 120) ** 2 + ((yy - cy) / 80) ** 2 <= 1] = 1
        pred[((xx - cx - 5) / 126) ** 2 + ((yy - cy + 3) / 78) ** 2 <= 1] = 1
        # 2: small square (400 px: radius ceil(0.1 * 20) = 2); prediction empty on frames 4-5
        gt[50:70, 700:720] = 2
        if t not in (4, 5):
            pred[51 + t % 3 : 71, 699:718 + t % 2] = 2
        # 3: leaves on frames 3-5 and 9, comes back; false positive on frame 4, empty prediction on frame 7
        if t not in (3, 4, 5, 9):
            gt[300:360, 600 + 3 * t : 680 + 3 * t] = 3
            if t != 7:
                pred[302:362, 598 + 3 * t : 676 + 3 * t] = 3
        if t == 4:
            pred[100:130, 100:140] = 3
        # 4: only on the first frame (empty ground truth on every scored frame); noise predictions on two frames
        if t == 0:
            gt[400:440, 50:90] = 4
        if t in (2, 6):
            noise = rng.random((30, 30)) < 0.5
            pred[420:450, 300:330][noise] = 4
        _save(root / "gt" / "edges" / f"{t:05d}.png", gt)
        _save(root / "pred" / "edges" / f"{t:05d}.png", pred)


def write_davis(root: Path, davis: Path) -> None:
    """The real DAVIS videos: ``osvos`` and ``osvos-shifted`` predictions of each."""
    for video_dir in sorted((davis / "Annotations").iterdir()):
        video = video_dir.name
        shutil.copytree(video_dir, root / "gt" / video)
        shutil.copytree(video_dir, root / "gt" / f"{video}-shifted")
        shutil.copytree(davis / "Results" / "osvos" / video, root / "pred" / video)
        for png in sorted((davis / "Results" / "osvos" / video).glob("*.png")):
            labels = np.array(Image.open(png))
            shifted = np.zeros_like(labels)
            dx, dy = SHIFT
            shifted[max(0, dy) : labels.shape[0] + min(0, dy), max(0, dx) : labels.shape[1] + min(0, dx)] = labels[
                max(0, -dy) : labels.shape[0] - max(0, dy), max(0, -dx) : labels.shape[1] - max(0, dx)
            ]
            _save(root / "pred" / f"{video}-shifted" / png.name, shifted)


def official_rows(tools: Path, root: Path) -> list[dict]:
    """Per-frame (``frame`` >= 1) and per-object (``frame`` = -1) values of the official scorer on ``root``."""
    sys.path.insert(0, str(tools))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import score  # noqa: PLC0415 - the official module, from the checkout
    finally:
        sys.path.remove(str(tools))
    rows = []
    for video_dir in sorted((root / "gt").iterdir()):
        video = video_dir.name
        first = np.array(Image.open(sorted(video_dir.glob("*.png"))[0]).convert("P"))
        objects = [int(o) for o in np.unique(first) if o not in (0, 255)]
        length = len(list(video_dir.glob("*.png")))
        meta = {video: {"length": length, "height": first.shape[0], "width": first.shape[1]}}
        for obj in objects:
            chunk = score.process_video_chunk(video, meta, str(root / "pred"), str(root / "gt"), 1, length - 1, obj, 0)
            merged = score.merge_chunk_results([chunk], video, obj)
            for t, (j, f) in enumerate(zip(chunk["j_list"], chunk["f_list"])):
                rows.append({"video": video, "object": obj, "frame": t + 1, "J": j, "F": f})
            j, f, _, dj, df, rj, rf = merged
            nan = float("nan")
            rows.append({"video": video, "object": obj, "frame": -1, "J": j, "F": f,
                         "disappear_J": nan if dj is None else dj, "disappear_F": nan if df is None else df,
                         "reappear_J": nan if rj is None else rj, "reappear_F": nan if rf is None else rf})
    return rows


if __name__ == "__main__":
    import tempfile

    import pandas as pd

    checkout = Path(sys.argv[1])
    davis = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parents[1] / "shared" / "data" / "davis-fullgt"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_edges(root)
        write_davis(root, davis)
        rows = official_rows(checkout / "MOSEv2" / "sam2_rcms" / "tools", root)
    REFERENCE.parent.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(REFERENCE, index=False, float_format="%.17g")
    print(f"{REFERENCE}: {len(rows)} rows")


def write_sparse_ids(root: Path) -> None:
    """A DAVIS-layout video whose objects are numbered 1, 3 and 7 (``root/gt``, ``root/pred``, and the official
    evaluation's folders ``root/davis``)."""
    height, width, frames = 120, 160, 6
    for t in range(frames):
        gt = np.zeros((height, width), np.uint8)
        pred = np.zeros_like(gt)
        gt[10:40, 10 + t : 50 + t] = 1
        pred[12:42, 8 + t : 50 + t] = 1
        gt[60:100, 60:90] = 3
        pred[60:95, 64:92] = 3
        gt[20:50, 110 - 2 * t : 150 - 2 * t] = 7
        if t % 2:
            pred[22:52, 108 - 2 * t : 148 - 2 * t] = 7
        _save(root / "gt" / "sparse" / f"{t:05d}.png", gt)
        _save(root / "pred" / "sparse" / f"{t:05d}.png", pred)
        _save(root / "davis" / "Annotations" / "480p" / "sparse" / f"{t:05d}.png", gt)
        (root / "davis" / "JPEGImages" / "480p" / "sparse").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (width, height)).save(root / "davis" / "JPEGImages" / "480p" / "sparse" / f"{t:05d}.jpg")
    (root / "davis" / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (root / "davis" / "ImageSets" / "2017" / "val.txt").write_text("sparse\n")


def official_davis_jf(checkout: Path, root: Path) -> float:
    """J&F of ``write_sparse_ids``'s prediction by the official davis2017-evaluation code itself."""
    sys.path.insert(0, str(checkout))
    try:
        from davis2017.evaluation import DAVISEvaluation  # noqa: PLC0415 - the official package, from the checkout
    finally:
        sys.path.remove(str(checkout))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        metrics = DAVISEvaluation(str(root / "davis"), "semi-supervised", "val").evaluate(str(root / "pred"))
    return float((np.mean(metrics["J"]["M"]) + np.mean(metrics["F"]["M"])) / 2)
