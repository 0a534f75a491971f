"""stseg.models.livos: the driver at its defaults gives the masks of LiVOS's own evaluation script, and the
probabilities it keeps are those of LiVOS's own ``InferenceCore`` and ``ResultSaver``.

Needs a checkout (``STSEG_LIVOS_REPO``); the tests skip with the reason without one.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import (
    HD_FRAMES,
    HD_VIDEO,
    REPO,
    assert_equals_eval_script,
    run_python,
    upstream,
)

pytest.importorskip("torch", reason="torch is not installed (the livos driver needs it)")


@pytest.mark.slow
def test_defaults_give_the_masks_of_the_evaluation_script(hd_clip, tmp_path):
    assert_equals_eval_script("livos", hd_clip, tmp_path)


#: LiVOS's evaluation loop (livos/eval.py's eval_vos at the mose-val dataset's settings) with its own loader
#: (VOSTestDataset, size 480), its own InferenceCore and its own ResultSaver, whose ``process`` brings the
#: probabilities back to the frame's size; the saver's writer thread is left out (its score path fails at the last
#: frame), the resized probabilities it would write are captured instead
CORE_REFERENCE = """
import sys, types
import numpy as np
import torch
from torch.utils.data import DataLoader
from stseg.models.livos import build_network
from livos.eval import InferenceCore
from livos.inference.data.vos_test_dataset import VOSTestDataset
from livos.inference.utils.results_utils import ResultSaver

repo, checkpoint, data, out = sys.argv[1:]
kept = {}
with torch.inference_mode():
    network = build_network(repo, checkpoint, device="cpu")
    dataset = VOSTestDataset(image_dir=f"{data}/JPEGImages", mask_dir=f"{data}/Annotations", subset=None,
                             size_dir=None, size=480, use_all_masks=False, req_frames_json=None)
    for reader in dataset.get_datasets():
        core = InferenceCore(network)
        saver = ResultSaver(f"{out}.masks", reader.vid_name, dataset="mose-val", object_manager=core.object_manager,
                            use_long_id=reader.use_long_id, palette=reader.get_palette(), save_scores=True)
        captured = []
        saver.queue = types.SimpleNamespace(put=captured.append)
        loader = DataLoader(reader, batch_size=None, shuffle=False, num_workers=0)
        for i, data_ in enumerate(loader):
            mask = data_.get("mask")
            objects = data_.get("valid_labels")
            info = data_["info"]
            prob = core.step(data_["rgb"], mask, None if objects is None else objects.tolist(), i == len(loader) - 1)
            saver.process(prob, info["frame"], resize_needed=info["resize_needed"], shape=info["shape"],
                          last_frame=i == len(loader) - 1, path_to_image=info["path_to_image"])
        for args in captured:
            for tmp_id, obj in args.tmp_id_to_obj.items():
                kept[f"{args.frame_name[:-4]}_{obj.id}"] = args.prob[tmp_id].numpy()
np.savez(out, **kept)
"""


@pytest.mark.slow
def test_kept_probabilities_are_inference_cores_own(hd_clip, tmp_path):
    """``probabilities: true``: each object's kept round(255 P) is that of the probabilities LiVOS's own
    ``InferenceCore.step`` gives, brought to the frame's size by its own ``ResultSaver`` (a real video at 1280x720
    through the loader's 480; LiVOS's eval.py cannot save these scores itself: docs/models.md, "Confidences")."""
    from stseg.masks import read_label_map
    from stseg.probabilities import quantize, read_probabilities

    repo, python = upstream("livos")
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "STSEG_CACHE": str(tmp_path / "cache"),
                  "PYTHONPATH": f"{repo}{os.pathsep}{REPO}"}
    checkpoint = tmp_path / "livos-random.pth"
    run_python(python, "-c", f"from stseg.models.livos import write_random_checkpoint; "
               f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env=one_thread)
    ours = tmp_path / "stseg"
    run_python(python, "-m", "stseg.cli", "infer", "--model-type", "livos", "--quiet", "--options",
               json.dumps({"repo": repo, "checkpoint": str(checkpoint), "device": "cpu", "probabilities": True}),
               "--frames", str(hd_clip / "JPEGImages" / HD_VIDEO), "--annotation",
               str(hd_clip / "Annotations" / HD_VIDEO / "00000.png"), "--out", str(ours), env=one_thread)
    reference = tmp_path / "core.npz"
    run_python(python, "-c", CORE_REFERENCE, repo, str(checkpoint), str(hd_clip), str(reference), env=one_thread)
    shape = read_label_map(hd_clip / "Annotations" / HD_VIDEO / "00000.png").shape
    with np.load(reference) as theirs:
        compared = 0
        for key in theirs.files:
            frame, obj = key.split("_")
            if int(frame) == 0:
                continue  # the annotation's frame: stseg keeps no probabilities there
            kept = read_probabilities(ours / "probs" / f"{frame}.npz", shape)
            assert theirs[key].shape == shape
            assert np.array_equal(quantize(kept[int(obj)]), quantize(theirs[key])), (frame, obj)
            compared += 1
    assert compared >= HD_FRAMES - 1
