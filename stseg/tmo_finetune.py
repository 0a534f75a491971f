"""TMO fine-tuning on a DAVIS/MOSE-layout training split with TMO's own ``Trainer`` (suhwan-cho/TMO).

TMO's ``run.py --train`` builds ``TrainDUTS`` + ``TrainDAVIS``, ``Adam(lr=1e-5)``,
batch 16, and ``Trainer(model, ver, optimizer, train_loader, val_set, save_name,
save_step, val_step).train(4000)``.  This driver does the same with TMO's model
and ``Trainer`` from the user's checkout, and supplies what is MOSE's:

* :class:`TrainClips`, the training samples of a split with every frame
  annotated: one random frame of a random video, its flow image and the union of
  its objects as the foreground (TMO is unsupervised: one foreground per frame),
  resized to ``resolution``² (bicubic; the mask nearest) and flipped at random
  horizontally and vertically, as TMO's ``TrainDAVIS`` prepares a DAVIS frame;
  its masks pass through TMO's own ``LabelToLongTensor``;
* the flow images: a folder per video (``<flow>/<video>/<frame>.jpg``: RAFT's
  renderings, or the cached OpenCV ones of the ``flow_images`` rule, see
  :func:`write_flow_images`);
* CPU glue when there is no GPU (``Trainer`` calls ``.cuda()`` unconditionally):
  :func:`stseg.models.upstream.cuda_calls_on_cpu`;
* the run's folder as the trainer's working directory (it saves
  ``weights/<save_name>_<epoch>.pth`` relative to it), and the final weights
  written as a plain state dict, the release format the ``tmo`` driver loads.

Settings (:class:`TMOFinetuneSettings`) default to the upstream values; an
"epoch" is TMO's: one pass over ``clip_n`` samples (``run.py``: 384 DUTS + 128
DAVIS).  The loss of every epoch (the trainer's own running mean) is written to
``losses.csv``.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import MissingInputError

__all__ = ["TMOFinetuneSettings", "TrainClips", "finetune_tmo", "training_frames", "write_flow_images"]


@dataclass
class TMOFinetuneSettings:
    train_root: str
    out_checkpoint: str
    workdir: str
    #: the folder holding ``<video>/<frame>.jpg`` flow images of the training videos
    flow_root: str
    repo: str | None = None
    init_checkpoint: str | None = None
    random_init: bool = False
    backbone: str = "rn101"
    epochs: int = 4000
    clip_n: int = 512
    lr: float = 1e-5
    batch_size: int = 16
    resolution: int = 384
    workers: int = 4
    device: str = "auto"
    videos: Sequence[str] = field(default_factory=list)
    seed: int = 123


def training_frames(train_root: str | os.PathLike[str], flow_root: str | os.PathLike[str],
                    videos: Sequence[str]) -> list[tuple[Path, Path, Path]]:
    """(frame, flow image, annotation) of every frame of the training videos; a missing one is an error."""
    from .dataset import list_frames

    samples = []
    for video in videos:
        for frame in list_frames(Path(train_root) / "JPEGImages" / video):
            flow = Path(flow_root) / video / f"{frame.stem}.jpg"
            mask = Path(train_root) / "Annotations" / video / f"{frame.stem}.png"
            for path, what in ((flow, "flow image"), (mask, "annotation")):
                if not path.is_file():
                    raise MissingInputError(f"{path}: {what} of a training frame is missing; TMO's training needs the "
                                            "frame, its flow image and its annotation.")
            samples.append((frame.resolve(), flow.resolve(), mask.resolve()))  # the trainer runs in the workdir
    return samples


class TrainClips:
    """TMO's training samples from a DAVIS/MOSE-layout split (see the module docstring); a ``torch`` dataset."""

    def __init__(self, samples: Sequence[tuple[Path, Path, Path]], resolution: int, clip_n: int,
                 to_mask: Any) -> None:
        self.samples = list(samples)
        self.resolution = resolution
        self.clip_n = clip_n
        self.to_mask = to_mask  # TMO's own dataset.transforms.LabelToLongTensor

    def __len__(self) -> int:
        return self.clip_n

    def __getitem__(self, index: int) -> dict:
        import torch
        import torchvision.transforms.functional as TF
        from PIL import Image

        from .masks import read_label_map

        frame, flow, annotation = random.choice(self.samples)
        size = (self.resolution, self.resolution)
        img = Image.open(frame).convert("RGB").resize(size, Image.Resampling.BICUBIC)
        flo = Image.open(flow).convert("RGB").resize(size, Image.Resampling.BICUBIC)
        foreground = Image.fromarray((read_label_map(annotation) > 0).astype(np.uint8)).resize(size, Image.Resampling.NEAREST)
        if random.random() > 0.5:
            img, flo, foreground = TF.hflip(img), TF.hflip(flo), TF.hflip(foreground)
        if random.random() > 0.5:
            img, flo, foreground = TF.vflip(img), TF.vflip(flo), TF.vflip(foreground)
        return {"imgs": TF.to_tensor(img).unsqueeze(0), "flows": TF.to_tensor(flo).unsqueeze(0),
                "indices": torch.ones(1, 1, 1, 1), "masks": (self.to_mask(foreground).unsqueeze(0) != 0).long()}


def write_flow_images(frame_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> int:
    """OpenCV flow images of a video's frames (as the ``tmo`` driver computes them), one JPEG per frame."""
    from PIL import Image

    from .dataset import list_frames
    from .files import atomic_dir
    from .models.tmo import opencv_flows

    files = list_frames(frame_dir)
    with atomic_dir(out_dir) as tmp:
        for path, flow in zip(files, opencv_flows(files)):
            Image.fromarray(flow).save(tmp / f"{path.stem}.jpg", quality=95)
    return len(files)


def finetune_tmo(settings: TMOFinetuneSettings) -> list[float]:
    """Run the fine-tuning; write ``settings.out_checkpoint`` and ``losses.csv`` in the workdir; the losses."""
    import torch

    from .files import atomic_path
    from .models.device import resolve_device
    from .models.tmo import build_network
    from .models.upstream import cuda_calls_on_cpu, import_upstream

    if settings.init_checkpoint is None and not settings.random_init:
        raise MissingInputError("TMO fine-tuning needs init_checkpoint (e.g. TMO_rn101.pth), or random_init for tests.")
    videos = list(settings.videos) or sorted(p.name for p in (Path(settings.train_root) / "Annotations").iterdir()
                                             if p.is_dir())
    samples = training_frames(settings.train_root, settings.flow_root, videos)
    device = resolve_device(settings.device)
    if device.type != "cuda":
        cuda_calls_on_cpu()
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    network = build_network(settings.repo, settings.init_checkpoint, settings.backbone, False, str(device),
                            settings.random_init)  # the checkpoint read with weights_only=True
    transforms = import_upstream("tmo", "dataset.transforms")
    trainer_module = import_upstream("tmo", "trainer")
    clips = TrainClips(samples, settings.resolution, settings.clip_n, transforms.LabelToLongTensor())
    loader: Any = torch.utils.data.DataLoader(clips, batch_size=settings.batch_size, shuffle=True,  # type: ignore[arg-type]
                                         num_workers=settings.workers, pin_memory=device.type == "cuda")
    model = torch.nn.DataParallel(network)  # as run.py trains it (on a CPU it just calls the network)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    workdir = Path(settings.workdir).resolve()
    (workdir / "weights").mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(workdir)  # the trainer saves weights/<save_name>_<epoch>.pth relative to it
    try:
        trainer = trainer_module.Trainer(model, settings.backbone, optimizer, loader, None, save_name="stseg",
                                         save_step=settings.epochs, val_step=settings.epochs + 1)
        trainer.train(settings.epochs)
    finally:
        os.chdir(here)
    losses = [float(v) for v in trainer.stats["loss"].history]
    with atomic_path(workdir / "losses.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "samples", "loss"])
        writer.writerows((epoch, settings.clip_n, repr(loss)) for epoch, loss in enumerate(losses, start=1))
    state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    with atomic_path(settings.out_checkpoint) as tmp:
        torch.save(state, tmp)
    return losses

