"""SAM2's own ``tools/vos_inference.py``, run as a script on a random-weight checkpoint the tests make.

The script is copied from a facebookresearch/sam2 checkout (``STSEG_SAM2_REPO``)
with exactly these edits, nothing else:

1. ``build_sam2_video_predictor(...)`` gets ``device="cpu"`` (the script assumes CUDA);
2. the image-size overrides of :func:`stseg.models.sam2.config_overrides` are
   appended to its ``hydra_overrides_extra`` (a 256-pixel model, for CPU speed).

Everything else runs at the script's defaults: first-frame masks only,
``score_thresh`` 0, no ``--apply_postprocessing``, DAVIS-format PNGs; and, for
the sparse case (an object first annotated on a later frame, :func:`sparse_dataset`),
with ``--track_object_appearing_later_in_video``.
``python tests/sam2_reference.py SAM2_CHECKOUT`` stores a digest of its masks
for the test video (per frame: sha256 of the label map and each object's pixel
count) in ``tests/data/sam2_vos_inference.json``, which CI compares with when no
checkout is present.  The script's masks on the CPU depend on the CPU's kernels
(two machines of this project's pool gave different masks, each machine's job
equal to each machine's script), so a file holds one run per machine the script
was run on (``runs``, with ``torch.backends.cpu.get_cpu_capability()`` and the
CPU's name), and stseg's masks must equal one of them on every frame.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STORED = HERE / "data" / "sam2_vos_inference.json"
VIDEO = "horsejump-high"  # real DAVIS, 2 objects, 50 frames: longer than SAM2's memory window
IMAGE_SIZE = 256
#: one thread everywhere: CPU results move by a few pixels with the thread count
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def make_checkpoint(path: Path) -> Path:
    """A randomly initialised SAM 2.1 tiny (image size 256) saved as a release checkpoint is."""
    import torch

    from stseg.models.sam2 import build_predictor

    torch.manual_seed(0)
    predictor = build_predictor("tiny", None, "cpu", IMAGE_SIZE)
    torch.save({"model": predictor.state_dict()}, path)
    return path


def edited_script(checkout: Path, out: Path) -> Path:
    from stseg.models.sam2 import config_overrides

    text = (checkout / "tools" / "vos_inference.py").read_text()
    edits = [
        ("        config_file=args.sam2_cfg,\n", '        config_file=args.sam2_cfg,\n        device="cpu",\n'),
        ("    predictor = build_sam2_video_predictor(\n",
         f"    hydra_overrides_extra += {config_overrides(IMAGE_SIZE)!r}\n    predictor = build_sam2_video_predictor(\n"),
    ]
    for old, new in edits:
        if text.count(old) != 1:
            raise RuntimeError(f"{checkout}/tools/vos_inference.py changed: cannot apply the edit at {old.strip()!r}")
        text = text.replace(old, new)
    out.write_text(text)
    return out


def run_vos_inference(checkout: Path, checkpoint: Path, dataset: Path, work: Path, *flags: str) -> Path:
    """Run the edited script on ``VIDEO`` of ``dataset`` (with ``flags``); return its output folder of PNGs."""
    script = edited_script(checkout, work / "vos_inference.py")
    (work / "videos.txt").write_text(VIDEO + "\n")
    out = work / "vos_inference_out"
    subprocess.run(
        [sys.executable, str(script), "--sam2_cfg", "configs/sam2.1/sam2.1_hiera_t.yaml", "--sam2_checkpoint", str(checkpoint),
         "--base_video_dir", str(dataset / "JPEGImages"), "--input_mask_dir", str(dataset / "Annotations"),
         "--video_list_file", str(work / "videos.txt"), "--output_mask_dir", str(out), *flags],
        check=True, cwd=work, env={**os.environ, **ONE_THREAD}, capture_output=True,
    )
    return out / VIDEO


#: the sparse case: object 2 of ``VIDEO`` is first annotated on this frame (YouTube-VOS style)
LATER_FRAME = "00005"
STORED_LATER = HERE / "data" / "sam2_vos_inference_later.json"
LATER_FLAG = "--track_object_appearing_later_in_video"


def sparse_dataset(dataset: Path, root: Path) -> Path:
    """``VIDEO`` with object 2 left out of the first frame's annotation and given on ``LATER_FRAME`` instead.

    Its mask there is real: the shared set's OSVOS result for object 2 on that frame, cut to the frame's ground
    truth foreground (per-object ground truth exists for frame 0 only).
    """
    from PIL import Image

    from stseg.masks import read_label_map, read_palette, write_label_map

    (root / "JPEGImages").mkdir(parents=True)
    os.symlink((dataset / "JPEGImages" / VIDEO).resolve(), root / "JPEGImages" / VIDEO)
    annotations = root / "Annotations" / VIDEO
    annotations.mkdir(parents=True)
    first = dataset / "Annotations" / VIDEO / "00000.png"
    labels = read_label_map(first)
    write_label_map(annotations / "00000.png", np.where(labels == 2, 0, labels).astype(np.uint8), read_palette(first))
    osvos = np.array(Image.open(dataset / "Results" / "osvos" / VIDEO / f"{LATER_FRAME}.png"))
    union = read_label_map(dataset / "Annotations_union" / VIDEO / f"{LATER_FRAME}.png") > 0
    write_label_map(annotations / f"{LATER_FRAME}.png", np.where((osvos == 2) & union, 2, 0).astype(np.uint8),
                    read_palette(first))
    return root


def digest(masks: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per frame: sha256 of the label map's bytes (with its shape) and each id's pixel count."""
    import hashlib

    out = {}
    for name, labels in masks.items():
        ids, counts = np.unique(labels, return_counts=True)
        out[name] = {"sha256": hashlib.sha256(repr(labels.shape).encode() + labels.astype(np.uint8).tobytes()).hexdigest(),
                     "pixels": {str(int(i)): int(c) for i, c in zip(ids, counts)}}
    return out


def stored_runs(path: Path) -> list[dict]:
    """Every stored run of the script: ``{"machine": ..., "frames": per-frame digests}`` (the first run's machine
    was not recorded)."""
    import json

    return json.loads(path.read_text())["runs"]


def matching_run(path: Path, got: dict[str, dict]) -> tuple[bool, list[str]]:
    """Whether ``got`` equals a stored run on every frame; else the frames that differ from the nearest run."""
    runs = [run["frames"] for run in stored_runs(path)]
    wrong = min(([f for f in run if got.get(f) != run[f]] + [f for f in got if f not in run] for run in runs), key=len)
    return not wrong, wrong


def machine() -> str:
    import platform

    import torch

    name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                platform.processor())
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}"


def pack(folder: Path) -> dict[str, np.ndarray]:
    """Frame name -> label map of every PNG in ``folder`` (frame 0 left out: stseg writes the annotation there)."""
    from PIL import Image

    return {p.stem: np.array(Image.open(p)) for p in sorted(folder.glob("*.png")) if int(p.stem) > 0}


if __name__ == "__main__":
    import tempfile

    checkout = Path(sys.argv[1])
    dataset = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE.parents[1] / "shared" / "data" / "davis-multiobj"
    import json

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = make_checkpoint(work / "tiny.pt")
        (work / "first").mkdir()
        masks = pack(run_vos_inference(checkout, checkpoint, dataset, work / "first"))
        sparse = sparse_dataset(dataset, work / "sparse")
        (work / "later").mkdir()
        later = pack(run_vos_inference(checkout, checkpoint, sparse, work / "later", LATER_FLAG))
    for path, found in ((STORED, masks), (STORED_LATER, later)):
        path.parent.mkdir(exist_ok=True)
        runs = stored_runs(path) if path.is_file() else []
        frames = digest(found)
        if all(run["frames"] != frames for run in runs):
            runs.append({"machine": machine(), "frames": frames})
        path.write_text(json.dumps({"video": VIDEO, "image_size": IMAGE_SIZE, "runs": runs}, indent=1) + "\n")
        print(f"{path}: {len(runs)} run(s), {len(found)} frames, {path.stat().st_size} bytes")
