"""An upstream evaluation script run unmodified on the CPU (the reference of the model-equivalence tests).

``python tests/run_on_cpu.py --module cutie.eval_vos ARGS...`` (a module of an
installed package: Cutie's ``eval_vos.py`` from rf-cutie) or
``python tests/run_on_cpu.py CHECKOUT/eval.py ARGS...`` (a script of a checkout,
run from its folder: XMem's ``eval.py``) runs the script with ``runpy`` and its
own arguments, after mapping its CUDA calls to the CPU for the run, and nothing
else:

* :func:`stseg.models.upstream.cuda_calls_on_cpu`: ``Tensor.cuda`` and
  ``Module.cuda`` return the object itself, ``torch.cuda.synchronize`` does
  nothing, ``torch.cuda.Event`` times with ``time.perf_counter`` and
  ``torch.cuda.max_memory_allocated`` is 0 (the script's timing log);
* its network asks ``torch.hub`` for ImageNet ResNets while it is built: the
  random backbones of :func:`stseg.models.upstream.offline_backbones` answer, as
  they do for stseg's driver (the checkpoint then overwrites them).

Everything else is the script's own: its configuration, its data loader (frames
brought to the dataset's ``size`` there), its ``InferenceCore`` loop and the way
it writes the masks.
"""

from __future__ import annotations

import os
import runpy
import sys

if __name__ == "__main__":
    from stseg.models.upstream import MODEL_ZOO_RESNETS, cuda_calls_on_cpu, offline_backbones

    cuda_calls_on_cpu()
    offline_backbones(MODEL_ZOO_RESNETS)
    if sys.argv[1] == "--module":
        module, args = sys.argv[2], sys.argv[3:]
        sys.argv = [module.rsplit(".", 1)[-1] + ".py", *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script = os.path.abspath(sys.argv[1])
        os.chdir(os.path.dirname(script))
        sys.path.insert(0, os.path.dirname(script))
        sys.argv = [script, *sys.argv[2:]]
        runpy.run_path(script, run_name="__main__")
