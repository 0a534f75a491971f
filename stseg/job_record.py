"""What a model's job ran on and what it used: the device check before it starts, and a small record after.

**No GPU job on the CPU by surprise.**  A job given a GPU (``--gpus`` ≥ 1: the
resource ``gpu`` of its rule) whose model would pick its device itself
(``device: auto``) and finds no CUDA device fails at once
(:func:`check_gpu_job`), naming the host, what torch sees (its version, the CUDA
it was built for, ``CUDA_VISIBLE_DEVICES``) and the fix: a wrong partition, a
driver too old for the installed torch, or no GPU handed to the job would
otherwise run a GPU model on the CPU for days.  Only an explicit ``device: cpu``
runs a GPU model on the CPU.

**The record** (``resources/<model>/<video>.json`` of a per-video job, the
``resources`` entry of a batch job's record): host, device, GPU name, torch and
CUDA versions, frames, wall seconds, peak host memory (the process's maximum
resident set) and peak GPU memory (torch's own counter,
``torch.cuda.max_memory_allocated``).  The report's resources table is made from
them (:func:`resources_table`).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import StsegError

__all__ = ["GPUMissingError", "RESOURCE_COLUMNS", "check_gpu_job", "job_record", "read_records", "resources_table"]


class GPUMissingError(StsegError, RuntimeError):
    """A job given a GPU finds none."""


def _torch_state(load: bool = True) -> dict[str, Any]:
    """What torch sees; with ``load`` False, nothing when the job did not import it (the built-in models)."""
    torch: Any = sys.modules.get("torch")
    if torch is None:
        if not load:
            return {"torch": None, "cuda": None, "gpus_seen": 0}
        try:
            import torch
        except ImportError:
            return {"torch": None, "cuda": None, "gpus_seen": 0}
    available = bool(torch.cuda.is_available())
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "gpus_seen": torch.cuda.device_count() if available else 0}


def check_gpu_job(model_type: str, options: Mapping[str, Any], gpus: int, defaults: Mapping[str, Any]) -> None:
    """Refuse a job given ``gpus`` ≥ 1 whose model picks its device (``device: auto``, its default or given) when no
    CUDA device is usable (module docstring)."""
    if gpus < 1 or "device" not in defaults:
        return
    device = str(options.get("device", defaults["device"]))
    if device != "auto":
        return  # an explicit device, cpu included, is the user's choice
    state = _torch_state()
    if state["gpus_seen"] > 0:
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    raise GPUMissingError(
        f"{model_type}: this job was given {gpus} GPU(s) but torch sees no CUDA device on host {socket.gethostname()} "
        f"(torch {state['torch']}, built for CUDA {state['cuda']}; CUDA_VISIBLE_DEVICES="
        f"{'unset' if visible is None else repr(visible)}). Run it where a GPU is (the GPU partition: set-resources "
        "slurm_partition in profiles/slurm), install a torch whose CUDA the node's driver supports (nvidia-smi names "
        "the driver's CUDA), or, to run it on the CPU on purpose, set models.<name>.options.device: cpu and "
        "models.<name>.gpus: 0."
    )


def _peak_host_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job_record(model_type: str, frames: int, seconds: float, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record of a job (module docstring), read at its end."""
    state = _torch_state(load=False)
    torch = sys.modules.get("torch")
    device, gpu, gpu_mb = "cpu", None, None
    if torch is not None and state["gpus_seen"] > 0 and torch.cuda.is_initialized():
        device = f"cuda:{torch.cuda.current_device()}"
        gpu = torch.cuda.get_device_name()
        gpu_mb = torch.cuda.max_memory_allocated() / 2**20
    return {"model_type": model_type, "host": socket.gethostname(), "device": device, "gpu": gpu,
            "torch": state["torch"], "cuda": state["cuda"], "frames": frames, "seconds": round(seconds, 3),
            "peak_host_mb": round(_peak_host_mb(), 1), "peak_gpu_mb": None if gpu_mb is None else round(gpu_mb, 1),
            **dict(extra or {})}


def read_records(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Every per-video job record (``resources/<model>/<video>.json``) and the per-job records inside batch records
    (their ``resources`` entry), each with its ``model``."""
    rows = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        content = json.loads(path.read_text())
        record = content.get("resources", content)
        if "frames" in record and "seconds" in record:
            rows.append({"model": path.parent.name, **record})
    return rows


RESOURCE_COLUMNS = ["model", "jobs", "device", "gpu", "frames", "seconds_per_frame", "peak_host_mb", "peak_gpu_mb"]


def resources_table(records: Sequence[Mapping[str, Any]]) -> Any:
    """Per model, over its jobs: the devices and GPUs it ran on, frames, seconds per frame (the jobs' wall time over
    their frames), and the largest peak host and GPU memory: what sizes the next run."""
    import pandas as pd

    if not records:
        return pd.DataFrame(columns=RESOURCE_COLUMNS)
    table = pd.DataFrame(records)
    rows = []
    for model, group in table.groupby("model", sort=False):
        frames = int(group["frames"].sum())
        gpu_mb = pd.to_numeric(group.get("peak_gpu_mb"), errors="coerce")
        rows.append((model, len(group), ",".join(sorted(set(map(str, group["device"])))),
                     ",".join(sorted({str(g) for g in group["gpu"] if g is not None and g == g})) or "-", frames,
                     float(group["seconds"].sum()) / max(frames, 1), float(group["peak_host_mb"].max()),
                     float(gpu_mb.max()) if gpu_mb.notna().any() else float("nan")))
    return pd.DataFrame(rows, columns=RESOURCE_COLUMNS)
