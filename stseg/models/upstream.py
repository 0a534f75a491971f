"""What the drivers of externally installed models (Cutie, XMem, LiVOS, TMO) share.

These models are not on PyPI and their code is never copied into stseg: each
runs in its own environment (``envs/<model>.yaml`` or a ready interpreter named
by ``models.<name>.python``), from the user's checkout of the upstream
repository (``options.repo``), and stseg drives it through the upstream public
Python API.  This module holds the pieces every driver needs:

* :func:`checkout` finds the checkout (option, else ``STSEG_<MODEL>_REPO``) and
  puts it on ``sys.path``; :func:`import_upstream` imports from it and turns a
  missing dependency into an error that names the environment to build.
* :func:`offline_backbones`: Cutie, XMem, LiVOS and TMO build torchvision-style
  ResNets *with ImageNet weights* when the model is constructed, which
  downloads them.  The full checkpoint loaded right after overwrites every one
  of those weights, so the driver points ``torch.hub`` at a private folder and
  writes randomly initialised backbones there under the file names the upstream
  code asks for: construction never touches the network (compute nodes are
  often offline), and :func:`require_complete` then checks that the checkpoint
  covered every parameter.
* :func:`load_state`: checkpoints are read with ``torch.load(weights_only=True)``
  (a file from elsewhere cannot run code) and a missing file is a clear error.
* Resizing helpers (shorter side to ``size`` as the
  upstream evaluation scripts do, probabilities back to full size).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import EXTERNAL_MODELS, WEIGHTS_TABLE, StsegError

__all__ = [
    "UPSTREAM",
    "UpstreamError",
    "checkout",
    "configuration_problem",
    "installed_package",
    "prepare",
    "import_upstream",
    "offline_backbones",
    "MODEL_ZOO_RESNETS",
    "TORCHVISION_RESNET101",
    "load_state",
    "require_complete",
    "loader_resize",
    "loader_resize_mask",
    "probabilities_at",
    "labels_from_probabilities",
]

#: model -> (repository, commit the drivers were written and tested against, a file that marks a checkout)
UPSTREAM: dict[str, tuple[str, str, str]] = {
    "cutie": ("https://github.com/hkchengrex/Cutie", "ec5cdd4cf16f75c73ad785a2f96fb97dbad4125a", "cutie/inference/inference_core.py"),
    "xmem": ("https://github.com/hkchengrex/XMem", "f3b841d50df058910bbf690229ddc15fb1aef7d6", "inference/inference_core.py"),
    "livos": ("https://github.com/uncbiag/LiVOS", "8c26cb03f570942a0c9a26f5bf7a8d378fc9ac60", "livos/model/livos_wrapper.py"),
    "tmo": ("https://github.com/suhwan-cho/TMO", "1c16c6019a064218624320123666c3126103da42", "tmo.py"),
}

#: file names under which the upstream code asks torch.hub for ImageNet weights -> torchvision builder
MODEL_ZOO_RESNETS = {"resnet18-5c106cde.pth": "resnet18", "resnet50-19c8e357.pth": "resnet50"}  # Cutie, XMem, LiVOS
TORCHVISION_RESNET101 = {"resnet101-63fe2227.pth": "resnet101"}  # TMO (torchvision's resnet101(pretrained=True))


class UpstreamError(StsegError, RuntimeError):
    """An external model that cannot run: missing checkout, dependency, checkpoint or parameters."""


def _fix(model: str) -> str:
    url, commit, _ = UPSTREAM[model]
    pypi = f'Install it from PyPI (pip install "stseg[{model}]", which brings {PYPI[model][0]}), or c' if model in PYPI else "C"
    return (
        f"{pypi}lone {url} and check out commit {commit[:12]} (git clone {url} && git -C <dir> checkout {commit[:12]}), "
        f"then set models.<name>.options.repo to that folder ({EXTERNAL_MODELS})."
    )


#: model -> (the package on PyPI that brings its code, the top-level package it installs)
PYPI = {"cutie": ("rf-cutie", "cutie")}


def installed_package(model: str) -> Path | None:
    """The folder holding ``model``'s code installed from PyPI (``pip install "stseg[cutie]"``), or None.

    It has the checkout's layout (``site-packages/cutie/...``), so it serves as one."""
    if model not in PYPI:
        return None
    import importlib.util

    spec = importlib.util.find_spec(PYPI[model][1])
    locations = list(spec.submodule_search_locations or []) if spec is not None else []  # a namespace package
    found = [Path(p).resolve().parent for p in locations if (Path(p).parent / UPSTREAM[model][2]).is_file()]
    return found[0] if found else None


def _repo_setting(model: str, repo: str | os.PathLike[str] | None) -> tuple[str | os.PathLike[str] | None, str]:
    """The configured checkout (the option, else ``$STSEG_<MODEL>_REPO``, else the package installed from PyPI)
    and the variable's name."""
    variable = f"STSEG_{model.upper()}_REPO"
    return repo or os.environ.get(variable) or installed_package(model), variable


def checkout(model: str, repo: str | os.PathLike[str] | None) -> Path:
    """The upstream checkout of ``model`` (option, else ``STSEG_<MODEL>_REPO``), added to ``sys.path``."""
    repo, variable = _repo_setting(model, repo)
    if not repo:
        raise UpstreamError(f"{model}: no upstream checkout configured (options.repo or ${variable}). {_fix(model)}")
    path = Path(repo).expanduser().resolve()
    marker = UPSTREAM[model][2]
    if not (path / marker).is_file():
        what = "does not exist" if not path.exists() else f"has no {marker}, so it is not a {model} checkout"
        raise UpstreamError(f"{model}: upstream checkout {path} {what}. {_fix(model)}")
    commit = checkout_commit(path)
    if commit is not None and commit != UPSTREAM[model][1]:  # (the PyPI package has a version, not a commit)
        print(f"stseg: warning: {model} checkout {path} is at commit {commit[:12]}; the driver was tested with "
              f"{UPSTREAM[model][1][:12]}", file=sys.stderr)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path


def checkout_commit(path: Path) -> str | None:
    """The commit a git checkout is at (read from ``.git``), or None when it is not a git checkout."""
    git = path / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        if (git / ref).is_file():
            return (git / ref).read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None


def configuration_problem(model: str, options: Mapping[str, Any], checkpoint_from_run: bool = False) -> str | None:
    """What is missing for ``model`` to run with ``options`` (checkout, checkpoint), checked at parse time;
    ``checkpoint_from_run``: the checkpoint is the one a fine-tune run writes (not checked here)."""
    if model in UPSTREAM:  # a model run from a checkout (EdgeTAM is a package of its own environment)
        repo, variable = _repo_setting(model, options.get("repo"))
        marker = UPSTREAM[model][2]
        if not repo:
            return f"no upstream checkout of {model} configured (options.repo or ${variable}). {_fix(model)}"
        if not (Path(repo).expanduser() / marker).is_file():
            return f"upstream checkout {repo} is missing or has no {marker}. {_fix(model)}"
    if checkpoint_from_run:
        return None
    checkpoint = options.get("checkpoint")
    if checkpoint is None and not options.get("random_init", False):
        return (f"no {model} checkpoint configured: set options.checkpoint to the released weights file "
                f"({WEIGHTS_TABLE}).")
    if checkpoint is not None and not Path(checkpoint).expanduser().is_file():
        return (f"{model} checkpoint {checkpoint} not found. Download the released weights ({WEIGHTS_TABLE}) "
                "or fix options.checkpoint.")
    return None


def prepare(model: str, repo: str | None, checkpoint: str | None, random_init: bool,
            backbones: Mapping[str, str]) -> tuple[Path, dict | None]:
    """What every driver does before building its network: the checkout (put on ``sys.path``), the
    offline backbones, and the checkpoint's state dict (None for ``random_init``)."""
    path = checkout(model, repo)
    offline_backbones(backbones)
    return path, load_state(model, checkpoint, random_init)


def import_upstream(model: str, module: str) -> Any:
    """Import ``module`` from the upstream checkout; a missing dependency names the environment to build."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise UpstreamError(
            f"{model}: cannot import {module} from the upstream checkout ({error}). This model runs in its own "
            f"environment: create it from envs/{model}.yaml (snakemake --use-conda does this) or install the "
            f"upstream requirements into the interpreter named by models.<name>.python."
        ) from error


def offline_backbones(files: Mapping[str, str], cache: str | os.PathLike[str] | None = None) -> Path:
    """Point ``torch.hub`` at a private folder holding random-weight backbones (see the module docstring)."""
    import torch
    import torchvision

    root = Path(cache or os.environ.get("STSEG_CACHE") or Path.home() / ".cache" / "stseg") / "backbones"
    checkpoints = root / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    for name, builder in files.items():
        target = checkpoints / name
        if target.is_file():
            try:  # torch.hub reads this file with weights_only=False: only tensors may be in it
                torch.load(target, map_location="cpu", weights_only=True)
                continue
            except Exception as error:  # noqa: BLE001 - any failure means the file is not a plain state dict
                print(f"stseg: {target} is not a plain state dict ({type(error).__name__}); rebuilding it",
                      file=sys.stderr)
                target.unlink()
        torch.manual_seed(0)
        state = getattr(torchvision.models, builder)(weights=None).state_dict()
        tmp = target.with_name(f".{name}.{os.getpid()}.partial")
        torch.save(state, tmp)
        os.replace(tmp, target)
    torch.hub.set_dir(str(root))
    return root


def load_state(model: str, path: str | os.PathLike[str] | None, random_init: bool = False) -> dict | None:
    """The checkpoint's state dict, read with ``weights_only=True``; None for ``random_init``."""
    import torch

    if path is None:
        if random_init:
            return None
        raise UpstreamError(
            f"{model}: no checkpoint configured; set models.<name>.options.checkpoint to the released weights "
            f"file ({WEIGHTS_TABLE})."
        )
    path = Path(path)
    if not path.is_file():
        raise UpstreamError(f"{path}: {model} checkpoint not found. Download the released weights ({WEIGHTS_TABLE}) "
                            "or fix models.<name>.options.checkpoint.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle with code in it, truncated file, not a checkpoint
        raise UpstreamError(f"{path}: not a loadable {model} checkpoint ({error}).") from error
    if isinstance(state, dict) and "network" in state and isinstance(state["network"], dict):
        state = state["network"]  # training checkpoints wrap the weights
    if not isinstance(state, dict):
        raise UpstreamError(f"{path}: expected a state dict of {model} weights, found {type(state).__name__}.")
    return state


def require_complete(model: str, network: Any, state: Mapping[str, Any], path: Any) -> None:
    """Refuse a checkpoint that leaves parameters of the network at their (random) initial values."""
    missing = [k for k in network.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise UpstreamError(
            f"{path}: this checkpoint lacks {len(missing)} of the {model} network's parameters "
            f"(e.g. {missing[:3]}); is it a {model} checkpoint of the configured model variant?"
        )


def loader_resize(image: Any, size: int) -> Any:
    """A ``C×H×W`` frame tensor with its shorter side brought to ``size`` as the upstream evaluation loaders
    (Cutie's, LiVOS's ``VideoReader``) do: torchvision's antialiased bilinear ``Resize``."""
    from torchvision import transforms

    return transforms.Resize(size, transforms.InterpolationMode.BILINEAR, antialias=True)(image)


def loader_resize_mask(labels: np.ndarray, size: int) -> np.ndarray:
    """A label map with its shorter side brought to ``size`` as those loaders resize the PNG (nearest)."""
    from PIL import Image
    from torchvision import transforms

    return np.array(transforms.Resize(size, transforms.InterpolationMode.NEAREST, antialias=True)(Image.fromarray(labels)))


def probabilities_at(prob: Any, shape: tuple[int, int]) -> Any:
    """``(1+N)×h×w`` probabilities brought to ``shape`` as the upstream scripts write them (Cutie's and LiVOS's
    ``ResultSaver``, XMem's ``eval.py``): each channel bilinearly, as a batch of one-channel maps (the same float
    rounding, so the same arg-max)."""
    import torch.nn.functional as F

    return F.interpolate(prob.unsqueeze(1), shape, mode="bilinear", align_corners=False)[:, 0]


def labels_from_probabilities(prob_with_bg: Any, ids: Sequence[int], shape: tuple[int, int], keep: bool = False
                              ) -> tuple[np.ndarray, dict[int, float], dict[int, np.ndarray] | None]:
    """Label map, per-object scores and (with ``keep``) per-object probabilities from ``(1+N)×h×w``
    probabilities (channel 0 = background).

    The probabilities are brought to ``shape`` bilinearly, each pixel takes the
    arg-max channel; an object's score is its mean probability over the pixels
    it wins (0 when it wins none); the kept probabilities are those full-size maps.
    """
    import torch.nn.functional as F

    prob = prob_with_bg.float()
    if tuple(prob.shape[-2:]) != tuple(shape):
        prob = F.interpolate(prob[None], size=shape, mode="bilinear", align_corners=False)[0]
    best = prob.argmax(dim=0)
    top = prob.max(dim=0).values
    lookup = np.asarray([0, *ids], dtype=np.uint8)
    winner = best.cpu().numpy()
    labels = lookup[winner]
    top = top.cpu().numpy()
    scores = {}
    for channel, obj in enumerate(ids, start=1):
        won = winner == channel
        scores[int(obj)] = float(top[won].mean()) if won.any() else 0.0
    kept = {int(obj): prob[channel].cpu().numpy() for channel, obj in enumerate(ids, start=1)} if keep else None
    return labels, scores, kept


class _TimingEvent:
    """``torch.cuda.Event`` for the CPU: records ``time.perf_counter``."""

    def __init__(self, enable_timing: bool = False) -> None:
        self.at = 0.0

    def record(self, *args: Any) -> None:
        import time

        self.at = time.perf_counter()

    def elapsed_time(self, end: "_TimingEvent") -> float:
        return (end.at - self.at) * 1000.0


def cuda_calls_on_cpu() -> None:
    """Map the CUDA calls of upstream code that assumes a GPU (``.cuda()``, ``torch.cuda.synchronize``, events,
    memory statistics) to the CPU, for the rest of this process: ``Tensor.cuda`` and ``Module.cuda`` return the
    object itself.  Only for a process that has no GPU and runs such code unmodified (TMO's ``Trainer``, the
    upstream evaluation scripts in the tests)."""
    import torch

    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    torch.cuda.synchronize = lambda *args, **kwargs: None
    torch.cuda.Event = _TimingEvent  # type: ignore[misc, assignment]
    torch.cuda.max_memory_allocated = lambda *args, **kwargs: 0
    torch.cuda.set_device = lambda *args, **kwargs: None
