"""The preflight: everything a run needs, checked in a minute before hundreds of jobs are queued.

``stseg preflight --configfile my-config.yaml`` (or the workflow's ``preflight``
target, which runs it as a job where the GPU models' jobs would run) checks,
and lists every problem at once:

* the config and the dataset, as the workflow's parse checks them (the schema,
  every model's options and checkpoint, the checkouts of the external models,
  every video validated);
* per GPU model (a job asking for a GPU with ``device: auto``): a usable CUDA
  device (:func:`stseg.job_record.check_gpu_job`);
* per model in its own environment (``models.<name>.python``, an external
  model's): that interpreter imports what its jobs run (stseg's inference and
  the model's module);
* per model: one frame of the first video through the model, as its jobs run it
  (the same ``stseg infer`` command, in the model's environment, with its
  options and GPUs), on a two-frame copy of that video, with a time limit.

The command writes nothing in the results folder (the trial frames go to a
temporary folder); the ``preflight`` target writes its report,
``<results>/preflight.txt``.  Exit status 1 when anything is wrong.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Check", "preflight", "format_checks"]


@dataclass(frozen=True)
class Check:
    """One check: what was checked, whether it passed, and the problem or what was seen."""

    what: str
    ok: bool
    detail: str


def _trial_video(plan: Any, folder: Path) -> tuple[Path, list[str], str]:
    """A two-frame copy (links) of the plan's first video: its frames folder, annotation and name."""
    video = next(iter(plan.videos))
    frames = Path(plan.inputs.frames_dir(video))
    kept = sorted(frames.iterdir(), key=lambda p: p.name)[:2]
    target = folder / "JPEGImages" / video
    target.mkdir(parents=True)
    for path in kept:
        (target / path.name).symlink_to(path.resolve())
    return target, plan.inputs.given_annotations(video)[:1], video


def preflight(config_files: Sequence[str | os.PathLike[str]], timeout: float = 600.0,
              source: str | os.PathLike[str] | None = None) -> list[Check]:
    """Every check of the module docstring, in order; ``source``: the folder holding this stseg (for the models
    in their own environment; default: this package's parent)."""
    from snakemake.exceptions import WorkflowError

    from .config_checks import read_configs
    from .errors import StsegError
    from .job_record import GPUMissingError, check_gpu_job
    from .models import model_class
    from .workflow import Plan

    checks: list[Check] = []
    try:
        config = read_configs(config_files)
        plan = Plan.from_config(config, read_only=True)
    except (StsegError, WorkflowError, OSError) as error:  # the schema's, and every problem of the parse at once
        return [Check("the config and the dataset", False, str(error).strip().replace("\n", " "))]
    checks.append(Check("the config and the dataset", True, f"{len(plan.videos)} valid video(s), "
                        f"{len(plan.models.names)} model(s)"))
    source = Path(source) if source is not None else Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="stseg-preflight-") as tmp:
        frames, annotation, video = _trial_video(plan, Path(tmp))
        for name in plan.models.names:
            entry = plan.models[name]
            if entry.gpus > 0 and entry.python is None and not entry.external:
                try:
                    check_gpu_job(entry.type, entry.options, entry.gpus, model_class(entry.type).defaults)
                    checks.append(Check(f"{name}: CUDA", True, "a CUDA device is usable"))
                except GPUMissingError as error:
                    checks.append(Check(f"{name}: CUDA", False, str(error)))
                    continue
            command = shlex.split(entry.command(str(source)))
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            if entry.python is not None or entry.external:
                python = command[:-2]  # the model's command without its `-m stseg.cli`
                job_imports = f"import stseg.inference, stseg.models; stseg.models.model_class({entry.type!r})"
                found = subprocess.run([*python, "-c", job_imports], capture_output=True, text=True, env=env)
                if found.returncode != 0:
                    checks.append(Check(f"{name}: environment", False, f"{' '.join(python)} cannot import "
                                        f"stseg's command: {found.stderr.strip().splitlines()[-1:]}. Install stseg's "
                                        "light dependencies there (docs/models.md)."))
                    continue
                checks.append(Check(f"{name}: environment", True, " ".join(python)))
            out = Path(tmp) / "out" / name
            argv = [*command, "infer", "--model-type", entry.type, "--options", entry.options_json, "--quiet",
                    "--gpus", str(entry.gpus), "--gpu-locks", str(Path(tmp) / "gpus"), "--frames", str(frames),
                    "--annotation", *annotation, "--out", str(out)]
            started = time.perf_counter()
            try:
                run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
            except subprocess.TimeoutExpired:
                checks.append(Check(f"{name}: one frame", False, f"no frame of {video} after {timeout:.0f} s"))
                continue
            seconds = time.perf_counter() - started
            last = Path(sorted(os.listdir(frames))[-1]).stem
            if run.returncode != 0 or not (out / f"{last}.png").is_file():
                checks.append(Check(f"{name}: one frame", False, _error_line(run.stderr) or f"exit status {run.returncode}"))
                continue
            checks.append(Check(f"{name}: one frame", True, f"frame 2 of {video} in {seconds:.1f} s"))
    return checks


def _error_line(stderr: str) -> str | None:
    """The line of a job's output that says what went wrong: stseg's one-line error, else an exception's line, else
    the last line."""
    import re

    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if ": error: " in line or re.match(r"^[\w.]+(Error|Exception): ", line):
            return line
    return lines[-1] if lines else None


def format_checks(checks: Sequence[Check]) -> str:
    """One line per check, the problems in full, and a last line counting them."""
    lines = [f"{'ok     ' if c.ok else 'PROBLEM'}  {c.what}: {c.detail}" for c in checks]
    problems = sum(not c.ok for c in checks)
    lines.append(f"{problems} problem(s)" + ("; fix them before the run" if problems else ": ready to run"))
    return "\n".join(lines) + "\n"
