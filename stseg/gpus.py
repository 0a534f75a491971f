"""Placing local GPU jobs on the GPUs of one machine.

Snakemake's ``--resources gpu=K`` keeps at most K GPU-asking jobs running at
once, but does not say which GPU each should use: every job would see all of
them and start on the first.  A GPU job of stseg (``infer``, ``infer-batch``)
therefore claims devices itself before torch touches CUDA: it takes, for each
GPU it asks for, the first device of the list whose lock file
(``<results>/.stseg/gpus/<device>.lock``) it can lock, and sets
``CUDA_VISIBLE_DEVICES`` to them.  The lock is an ``flock`` held until the
process exits, so a killed job frees its device at once.

The device list is ``$STSEG_GPU_DEVICES`` (comma-separated), else the
inherited ``$CUDA_VISIBLE_DEVICES``, else every device torch sees.  Inside a
SLURM allocation (``$SLURM_JOB_ID``) nothing is done: SLURM already set
``CUDA_VISIBLE_DEVICES`` for the job.  With more jobs than free devices (another
run sharing the machine) a job waits for one, saying so in its log.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import sys
import time
from pathlib import Path
from typing import IO, Sequence

__all__ = ["visible_devices", "claim_gpus"]

#: the open lock files of this process's claimed devices (kept open: closing one releases it)
_HELD: list[IO[str]] = []


def visible_devices() -> list[str]:
    """The devices local jobs are placed on (module docstring)."""
    for name in ("STSEG_GPU_DEVICES", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(name)
        if value is not None:
            return [d.strip() for d in value.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def claim_gpus(count: int, lock_dir: str | os.PathLike[str], devices: Sequence[str] | None = None,
               poll_seconds: float = 0.5) -> list[str]:
    """Claim ``count`` devices for this process and set ``CUDA_VISIBLE_DEVICES`` to them; the claimed devices
    (none when ``count`` is 0, inside SLURM, or on a machine without GPUs)."""
    if count <= 0 or "SLURM_JOB_ID" in os.environ:
        return []
    devices = list(visible_devices() if devices is None else devices)
    if not devices:
        return []
    if count > len(devices):
        raise ValueError(f"the job asks for {count} GPU(s) but {len(devices)} are visible ({','.join(devices)})")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    claimed: list[str] = []
    waited = False
    while len(claimed) < count:
        for handle in _HELD:  # a partial claim is given back before waiting: two jobs never hold half each
            handle.close()
        _HELD.clear()
        claimed = []
        for device in devices:
            handle = open(lock_dir / f"{device}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            _HELD.append(handle)
            claimed.append(device)
            if len(claimed) == count:
                break
        if len(claimed) < count:
            if not waited:
                print(f"stseg: every GPU of {','.join(devices)} is in use; waiting for one", file=sys.stderr, flush=True)
                waited = True
            time.sleep(poll_seconds)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
    print(f"stseg: placed on GPU {','.join(claimed)} (CUDA_VISIBLE_DEVICES) at {time.time():.6f}", file=sys.stderr, flush=True)
    atexit.register(lambda: print(f"stseg: released GPU {','.join(claimed)} at {time.time():.6f}", file=sys.stderr, flush=True))
    return claimed
