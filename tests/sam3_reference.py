"""SAM 3's own mask-prompted video tracking, run from the ``sam3`` package on a random-weight checkpoint the test
makes: the reference of the ``sam3`` model's equality test.

``python tests/sam3_reference.py --features DIR --checkpoint OUT.pt --frames DIR --annotation PNG --out DIR``

1. builds SAM 3's video model at its builder's defaults (``build_sam3_video_model``,
   random weights, seed 0; the object-score head's bias set to 2 so that the random
   model says "object present" and the masks are not empty, with scores that differ
   between objects, so that overlaps are resolved by score, not by id) and saves the part
   of its state that tracking uses, under the release checkpoint's keys (``tracker.*`` and
   ``detector.backbone.vision_backbone.*``: 1.9 GB, where every key of the video model
   would be 3.5 GB of CI's disk): the file the ``sam3`` job reads;
2. tracks the video as SAM 3's notebook for the SAM 2 task does
   (``sam3_for_sam2_video_task_example.ipynb``): the video model's ``tracker`` given
   the detector's backbone, ``init_state`` on the frames' folder, every object of
   the annotation added with ``add_new_mask`` on frame 0, ``propagate_in_video``
   from frame 0 with ``propagate_preflight=True``;
3. turns each frame's masks into one label map with SAM 3's video inference's own
   output step (``Sam3VideoInference._postprocess_output``: masks are logits above 0,
   overlaps go to the object of the higher tracker score), and writes it as
   ``<frame>.png`` beside ``scores.csv`` (frame, object, sigmoid of the tracker's
   object score).

Two things are not SAM 3's defaults, both forced by the machine: the run is on the CPU through
:func:`stseg.models.sam3.cuda_on_cpu` (SAM 3 puts tensors on "cuda" directly), and the tokenizer of the text
encoder, which mask tracking never uses, reads a one-line vocabulary: the PyPI wheel of ``sam3`` 0.1.4 lacks
``assets/bpe_simple_vocab_16e6.txt.gz`` (facebookresearch/sam3#170, #339), so ``build_sam3_video_model`` fails at
its defaults without one.  Both runs use two threads (CPU results move with the thread count) and share
backbone features through :mod:`sam3_features`.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
THREADS = 2
#: the random model's object-score head: without a bias it says "no object" on every frame
OBJECT_SCORE_BIAS = "tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias"
#: the release checkpoint's keys that mask tracking reads: the tracker and the detector's image backbone
TRACKING_KEYS = ("tracker.", "detector.backbone.vision_backbone.")


def video_model(work: Path):
    """SAM 3's video model at its builder's defaults, random weights (module docstring, step 1)."""
    import torch

    from stseg.models.sam3 import cuda_on_cpu

    vocabulary = work / "bpe_one_line.txt.gz"
    with gzip.open(vocabulary, "wt") as handle:
        handle.write("#version: 0.2\n")
    torch.manual_seed(0)
    with cuda_on_cpu():
        from sam3.model_builder import build_sam3_video_model

        model = build_sam3_video_model(load_from_HF=False, bpe_path=str(vocabulary), device="cpu")
    with torch.no_grad():
        model.state_dict()[OBJECT_SCORE_BIAS].fill_(2.0)
    return model


def track(model, frames: Path, annotation: Path, out: Path) -> None:
    """The notebook's tracking and the video inference's output step (module docstring, steps 2 and 3)."""
    import numpy as np
    import torch
    from PIL import Image

    labels = np.array(Image.open(annotation))
    predictor = model.tracker
    predictor.backbone = model.detector.backbone
    out.mkdir(parents=True, exist_ok=True)
    rows = ["frame,object,score"]
    names = sorted(p.stem for p in frames.glob("*.jpg"))
    with torch.inference_mode():
        state = predictor.init_state(video_path=str(frames))
        for obj in [int(o) for o in np.unique(labels) if o]:
            predictor.add_new_mask(state, frame_idx=0, obj_id=obj, mask=torch.from_numpy(labels == obj))
        for frame_idx, obj_ids, _, video_res_masks, obj_scores in predictor.propagate_in_video(
                state, start_frame_idx=0, max_frame_num_to_track=len(names), reverse=False, propagate_preflight=True):
            if frame_idx == 0:
                continue
            tracker_scores = torch.sigmoid(obj_scores.float()).flatten().tolist()
            output = {
                "obj_id_to_mask": {o: video_res_masks[i] > 0.0 for i, o in enumerate(obj_ids)},
                "obj_id_to_score": {o: 1.0 for o in obj_ids},  # a detection score: mask prompts have none
                "obj_id_to_tracker_score": dict(zip(obj_ids, tracker_scores)),
            }
            size = {"orig_height": labels.shape[0], "orig_width": labels.shape[1]}
            result = model._postprocess_output(size, output)
            label_map = np.zeros(labels.shape, np.uint8)
            for obj, mask in zip(result["out_obj_ids"], result["out_binary_masks"]):
                label_map[mask] = obj
            Image.fromarray(label_map).save(out / f"{names[frame_idx]}.png")
            rows += [f"{names[frame_idx]},{o},{s!r}" for o, s in sorted(zip(obj_ids, tracker_scores))]
    (out / "scores.csv").write_text("\n".join(rows) + "\n")


def main(argv: list[str]) -> None:
    import torch

    parser = argparse.ArgumentParser()
    for name in ("features", "checkpoint", "frames", "annotation", "out"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    from sam3_features import remember_features

    from stseg.models.sam3 import cuda_on_cpu

    remember_features(args.features)
    model = video_model(args.out.parent)
    torch.save({k: v for k, v in model.state_dict().items() if k.startswith(TRACKING_KEYS)}, args.checkpoint)
    with cuda_on_cpu():
        track(model, args.frames, args.annotation, args.out)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main(sys.argv[1:])
