"""SAM 3's backbone run once per distinct input and shared between the runs of one test (CI time: SAM 3's
1008-pixel backbone takes about a minute per frame on two CPU cores).

:func:`remember_features` wraps ``Sam3TrackerBase.forward_image`` (the tracker's image encoder: the backbone and
the mask decoder's two projections): the output for an input tensor is computed by SAM 3 the first time and
saved under the sha256 of the tensor's shape, dtype and bytes; an input with the same bytes later (in this
process or another: the SAM 3 reference, then the ``sam3`` job) gets that saved output back.  An input that
differs in any bit is computed anew, so a difference in how the frames are read and resized still shows;
``features.log`` records each call as ``hit`` or ``computed``.  Everything after the image encoder (memory,
attention, mask decoding, the masks) runs in every run.

``python tests/sam3_features.py FOLDER -m MODULE ARGS...`` runs ``MODULE`` (``stseg.cli``: the ``sam3`` job, as
the interpreter a config's ``models.<name>.python`` names) with the features of ``FOLDER``, on two threads.
"""

from __future__ import annotations

import hashlib
import os
import runpy
import sys
from pathlib import Path

THREADS = 2


def remember_features(folder: Path) -> None:
    import torch
    from sam3.model.sam3_tracker_base import Sam3TrackerBase

    folder.mkdir(parents=True, exist_ok=True)
    compute = Sam3TrackerBase.forward_image

    def forward_image(self, img_batch):
        data = img_batch.detach().cpu().contiguous()
        key = hashlib.sha256(f"{tuple(data.shape)} {data.dtype}".encode() + data.numpy().tobytes()).hexdigest()
        saved = folder / f"{key}.pt"
        if saved.is_file():
            output, how = torch.load(saved, weights_only=True), "hit"
        else:
            output, how = compute(self, img_batch), "computed"
            torch.save(output, saved.with_suffix(".part"))
            os.replace(saved.with_suffix(".part"), saved)
        with open(folder / "features.log", "a") as log:
            log.write(f"{how} {key}\n")
        return output

    Sam3TrackerBase.forward_image = forward_image


if __name__ == "__main__":
    import torch

    torch.set_num_threads(THREADS)
    remember_features(Path(sys.argv[1]))
    if sys.argv[2] != "-m":
        raise SystemExit("usage: sam3_features.py FOLDER -m MODULE ARGS...")
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
