"""SAM 2.1 fine-tuning on a DAVIS/MOSE-layout training split with the ``sam2`` package's own training code.

The recipe is the package's ``configs/sam2.1_training/sam2.1_hiera_b+_MOSE_finetune.yaml``
(resolution 1024, 8 frames, up to 3 objects, AdamW with base lr 5e-6 and vision
lr 3e-6, 40 epochs, from the base+ checkpoint).  This driver composes it with
overrides for what differs per run (dataset paths, resolution, frames, objects,
epochs, batch size, workers, GPUs, learning rates, initial checkpoint, output
folder) and, for another model size, the image encoder of that size's inference
config; then it runs the package's ``Trainer`` in this process (one device) or
through its single-node launcher (several GPUs).

Glue kept here, never in an edited copy of the package:

* ``RecordingTrainer`` (a subclass of ``training.trainer.Trainer``) records the
  core loss of every step so that a run reports whether the loss went down;
* on CPU the accelerator is ``cpu``, the distributed backend ``gloo``, mixed
  precision off, and ``torch.cuda.max_memory_allocated`` / ``reset_peak_memory_stats``
  (read by the trainer for its log) answer 0 instead of failing.

The written checkpoint holds only ``{"model": state_dict}``, the release format
that :func:`stseg.models.sam2.build_predictor` (and the ``sam2`` inference
config of the same size and image size) loads.
"""

from __future__ import annotations

import csv
import os
import random
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from .errors import MissingInputError

__all__ = ["FinetuneSettings", "finetune", "compose_config", "RECIPE"]

RECIPE = "configs/sam2.1_training/sam2.1_hiera_b+_MOSE_finetune.yaml"
LOSS_LOG = "losses.csv"


@dataclass
class FinetuneSettings:
    train_root: str
    init_checkpoint: str
    out_checkpoint: str
    workdir: str
    size: str = "base_plus"
    resolution: int = 1024
    num_frames: int = 8
    max_num_objects: int = 3
    epochs: int = 40
    batch_size: int = 1
    workers: int = 10
    gpus: int = 1
    device: str = "auto"
    base_lr: float | None = None
    vision_lr: float | None = None
    videos: Sequence[str] = field(default_factory=list)
    seed: int = 123
    #: no augmentation, the first frame's mask as the only prompt, no dropout: the same batch gives
    #: the same loss, so a few steps on one clip show whether training lowers it (tests, debugging)
    deterministic: bool = False


def compose_config(settings: FinetuneSettings):
    """The recipe composed with this run's overrides (an OmegaConf object)."""
    import sam2  # noqa: F401  (initialises Hydra's config module)
    from hydra import compose
    from omegaconf import OmegaConf

    from .models.sam2 import SIZES

    if settings.size not in SIZES:
        raise ValueError(f"fine-tune: size={settings.size!r} must be one of {sorted(SIZES)}")
    root = Path(settings.train_root)
    workdir = Path(settings.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    list_file = workdir / "train_videos.txt"
    videos = list(settings.videos) or sorted(p.name for p in (root / "Annotations").iterdir() if p.is_dir())
    list_file.write_text("".join(v + "\n" for v in videos))
    cuda = _device(settings.device) == "cuda"
    overrides = [
        f"dataset.img_folder={(root / 'JPEGImages').resolve()}",
        f"dataset.gt_folder={(root / 'Annotations').resolve()}",
        f"dataset.file_list_txt={list_file}",
        f"scratch.resolution={settings.resolution}",
        f"scratch.num_frames={settings.num_frames}",
        f"scratch.max_num_objects={settings.max_num_objects}",
        f"scratch.num_epochs={settings.epochs}",
        f"scratch.train_batch_size={settings.batch_size}",
        f"scratch.num_train_workers={settings.workers}",
        f"launcher.gpus_per_node={settings.gpus if cuda else 1}",
        f"launcher.experiment_log_dir={workdir}",
        f"trainer.accelerator={'cuda' if cuda else 'cpu'}",
        f"trainer.seed_value={settings.seed}",
        f"trainer.checkpoint.model_weight_initializer.state_dict.checkpoint_path={Path(settings.init_checkpoint).resolve()}",
        "trainer._target_=stseg.finetune.RecordingTrainer",
    ]
    if settings.base_lr is not None:
        overrides.append(f"scratch.base_lr={settings.base_lr}")
    if settings.vision_lr is not None:
        overrides.append(f"scratch.vision_lr={settings.vision_lr}")
    if not cuda:
        overrides += ["trainer.distributed.backend=gloo", "trainer.optim.amp.enabled=false", "trainer.data.train.pin_memory=false"]
    grid = settings.resolution // 16
    overrides += [
        f"trainer.model.memory_attention.layer.self_attention.feat_sizes=[{grid},{grid}]",
        f"trainer.model.memory_attention.layer.cross_attention.feat_sizes=[{grid},{grid}]",
    ]
    if settings.deterministic:
        overrides += [
            "trainer.model.prob_to_use_pt_input_for_train=0.0",
            "trainer.model.prob_to_use_box_input_for_train=0.0",
            "trainer.model.num_init_cond_frames_for_train=1",
            "trainer.model.rand_init_cond_frames_for_train=false",
            "trainer.model.image_encoder.trunk.drop_path_rate=0.0",
            "trainer.model.memory_attention.layer.dropout=0.0",
            "trainer.model.memory_attention.layer.self_attention.dropout=0.0",
            "trainer.model.memory_attention.layer.cross_attention.dropout=0.0",
            "trainer.data.train.shuffle=false",
        ]
    config = compose(config_name=RECIPE, overrides=overrides)
    OmegaConf.set_struct(config, False)
    if settings.size != "base_plus":
        inference = compose(config_name=SIZES[settings.size])
        drop_path = config.trainer.model.image_encoder.trunk.get("drop_path_rate", 0.1)
        config.trainer.model.image_encoder = inference.model.image_encoder
        config.trainer.model.image_encoder.trunk.drop_path_rate = drop_path
    if settings.deterministic:
        resize_and_normalise = [
            t for t in config.vos.train_transforms[0].transforms
            if t._target_.rsplit(".", 1)[-1] in ("RandomResizeAPI", "ToTensorAPI", "NormalizeAPI")
        ]
        config.vos.train_transforms[0].transforms = resize_and_normalise
    return config


def _device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_cuda_stats_safe() -> None:
    import torch

    if not torch.cuda.is_available():
        torch.cuda.max_memory_allocated = lambda *args, **kwargs: 0
        torch.cuda.reset_peak_memory_stats = lambda *args, **kwargs: None


def _recording_trainer_class():
    from training.trainer import Trainer

    class _RecordingTrainer(Trainer):
        """The package's Trainer, recording every training step's core loss to ``losses.csv``."""

        def _step(self, batch, model, phase):
            result = super()._step(batch, model, phase)
            losses, _, _ = result
            value = float(next(iter(losses.values())).detach().float().cpu())
            log = Path(self.logging_conf.log_dir).parent / LOSS_LOG
            new = not log.exists()
            with open(log, "a", newline="") as handle:
                writer = csv.writer(handle)
                if new:
                    writer.writerow(["step", "epoch", "loss"])
                writer.writerow([self.steps[phase] - 1, self.epoch, repr(value)])
            return result

    return _RecordingTrainer


def __getattr__(name: str):  # RecordingTrainer is built on first use: importing stseg needs no torch
    if name == "RecordingTrainer":
        return _recording_trainer_class()
    raise AttributeError(name)


def verified_copy(checkpoint: str | os.PathLike[str], workdir: Path) -> Path:
    """The initial checkpoint read with ``torch.load(weights_only=True)`` and saved again in ``workdir``.

    The sam2 trainer reads its initial weights with ``torch.load``'s default, which
    would run code pickled into a planted file on a torch whose default is not
    ``weights_only=True``; the trainer is given this copy, made of tensors only.
    """
    import torch

    from .files import atomic_path

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    target = workdir / "init-checkpoint.verified.pt"
    workdir.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    return target


def finetune(settings: FinetuneSettings) -> Path:
    """Run the fine-tuning; write ``settings.out_checkpoint``; return the losses file."""
    import torch
    from training.train import single_node_runner, single_proc_run
    from training.utils.train_utils import register_omegaconf_resolvers

    from .files import atomic_path

    if not Path(settings.init_checkpoint).is_file():
        raise MissingInputError(
            f"{settings.init_checkpoint}: initial SAM2 checkpoint not found; the fine-tune rule starts from a "
            f"SAM 2.1 {settings.size} checkpoint (set finetune.init_checkpoint in the config)."
        )
    try:
        register_omegaconf_resolvers()
    except ValueError:  # OmegaConf: already registered in this process
        pass
    settings = replace(settings, init_checkpoint=str(verified_copy(settings.init_checkpoint, Path(settings.workdir))))
    config = compose_config(settings)
    workdir = Path(config.launcher.experiment_log_dir)
    (workdir / LOSS_LOG).unlink(missing_ok=True)
    _make_cuda_stats_safe()
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if int(config.launcher.gpus_per_node) == 1:
        single_proc_run(local_rank=0, main_port=_free_port(), cfg=config, world_size=1)
    else:
        single_node_runner(config, _free_port())
    trained = workdir / "checkpoints" / "checkpoint.pt"
    state = torch.load(trained, map_location="cpu", weights_only=True)["model"]
    with atomic_path(settings.out_checkpoint) as tmp:
        torch.save({"model": state}, tmp)
    return workdir / LOSS_LOG
