"""Cutie's own evaluation script, ``cutie/eval_vos.py``, run unmodified on the CPU.

``python tests/cutie_reference.py HYDRA_OVERRIDES...`` runs the ``eval_vos.py`` of
the importable ``cutie`` package (rf-cutie from PyPI, or a checkout on
``PYTHONPATH``) with ``runpy``, after mapping its CUDA calls to the CPU for the
run, and nothing else:

* ``Tensor.cuda`` and ``Module.cuda`` return the object itself;
* ``torch.cuda.synchronize`` does nothing, ``torch.cuda.Event`` times with
  ``time.perf_counter`` and ``torch.cuda.max_memory_allocated`` is 0 (the
  script's timing log);
* its network asks ``torch.hub`` for ImageNet ResNets while it is built: the
  random backbones of :func:`stseg.models.upstream.offline_backbones` answer, as
  they do for stseg's driver (the checkpoint then overwrites them).

Everything else is the script's own: its Hydra config (``eval_config.yaml``),
its data loader (frames brought to the dataset's ``size`` there), its
``InferenceCore`` loop and its ``ResultSaver``.
"""

from __future__ import annotations

import runpy
import sys
import time

import torch


class _Event:
    def __init__(self, enable_timing: bool = False) -> None:
        self.at = 0.0

    def record(self) -> None:
        self.at = time.perf_counter()

    def elapsed_time(self, end: "_Event") -> float:
        return (end.at - self.at) * 1000.0


def cuda_on_cpu() -> None:
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    torch.cuda.synchronize = lambda *args, **kwargs: None
    torch.cuda.Event = _Event  # type: ignore[misc, assignment]
    torch.cuda.max_memory_allocated = lambda *args, **kwargs: 0


if __name__ == "__main__":
    from stseg.models.upstream import MODEL_ZOO_RESNETS, offline_backbones

    cuda_on_cpu()
    offline_backbones(MODEL_ZOO_RESNETS)
    sys.argv = ["eval_vos.py", *sys.argv[1:]]
    runpy.run_module("cutie.eval_vos", run_name="__main__", alter_sys=True)
