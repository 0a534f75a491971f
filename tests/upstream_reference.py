"""Reference masks straight from an upstream model's own API, for tests/unit/models/test_upstream.py.

Run with the model's interpreter: ``python upstream_reference.py MODEL REPO CHECKPOINT FRAMES ANNOTATION OUT.npz``.
Each branch follows the upstream's own scripts (Cutie's scripting_demo.py, XMem's
eval.py, LiVOS's eval.py + ResultSaver, TMO's run.py: the whole video in one
forward call) at the frames' own resolution, independently of stseg's drivers;
only checkpoint-free setup (building the network from the test's random-weight
file, the offline backbones and the flow images) is shared with them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image


def frames(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))


def rgb(path: Path) -> torch.Tensor:
    image = cv2.imread(str(path))[:, :, ::-1].copy()
    return torch.from_numpy(image).permute(2, 0, 1).contiguous().float() / 255.0


def cutie(repo, checkpoint, files, mask):
    from stseg.models.cutie import build_network

    network, cfg = build_network(repo, checkpoint, device="cpu", overrides={"max_internal_size": -1})
    from cutie.inference.inference_core import InferenceCore

    processor = InferenceCore(network, cfg=cfg)
    objects = [int(i) for i in np.unique(mask) if i != 0]
    out = []
    for ti, path in enumerate(files):
        if ti == 0:
            processor.step(rgb(path), torch.from_numpy(mask).long(), objects=objects)
            continue
        prob = processor.step(rgb(path))
        out.append(processor.output_prob_to_mask(prob).numpy().astype(np.uint8))
    return out


def xmem(repo, checkpoint, files, mask):
    from stseg.models.xmem import build_network, xmem_config

    config = xmem_config({})
    network = build_network(repo, checkpoint, config)
    from inference.data.mask_mapper import MaskMapper
    from inference.inference_core import InferenceCore

    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    mapper = MaskMapper()
    processor = InferenceCore(network, config=config)
    out = []
    for ti, path in enumerate(files):
        image = (rgb(path) - mean) / std
        if ti == 0:
            msk, labels = mapper.convert_mask(mask)
            processor.set_all_labels(list(mapper.remappings.values()))
            processor.step(image, torch.Tensor(msk), labels, end=False)
            continue
        prob = processor.step(image, None, None, end=ti == len(files) - 1)
        out.append(mapper.remap_index_mask(torch.argmax(prob, dim=0).numpy().astype(np.uint8)))
    return out


def livos(repo, checkpoint, files, mask):
    from stseg.models.livos import build_network

    network = build_network(repo, checkpoint)
    from livos.eval import InferenceCore

    processor = InferenceCore(network)
    objects = [int(i) for i in np.unique(mask) if i != 0]
    out = []
    for ti, path in enumerate(files):
        last = ti == len(files) - 1
        if ti == 0:
            processor.step(rgb(path), torch.from_numpy(mask).long(), objects, last)
            continue
        prob = processor.step(rgb(path), None, None, last)
        index = torch.argmax(prob, dim=0)
        labels = torch.zeros_like(index)
        for tmp_id, obj in processor.object_manager.tmp_id_to_obj.items():
            labels[index == tmp_id] = obj.id
        out.append(labels.numpy().astype(np.uint8))
    return out


def tmo(repo, checkpoint, files, mask):
    from stseg.models.tmo import build_network, opencv_flows

    network = build_network(repo, checkpoint)
    # frame 0 is the annotation: the video after it, in one call
    imgs = torch.stack([rgb(p) for p in files[1:]])[None]
    flows = [torch.from_numpy(f.copy()).permute(2, 0, 1).contiguous().float() / 255.0 for f in opencv_flows(files)]
    with torch.no_grad():
        masks = network(imgs, torch.stack(flows[1:])[None])["masks"][0, :, 0].numpy().astype(np.uint8)
    return list(masks)


def main(model: str, repo: str, checkpoint: str, frame_dir: str, annotation: str, out: str) -> None:
    files = frames(Path(frame_dir))
    mask = np.array(Image.open(annotation))
    with torch.inference_mode():
        masks = {"cutie": cutie, "xmem": xmem, "livos": livos, "tmo": tmo}[model](repo, checkpoint, files, mask)
    np.savez_compressed(out, masks=np.stack(masks), names=np.array([p.stem for p in files[1:]]))


if __name__ == "__main__":
    main(*sys.argv[1:])
