"""The model registry: one name per VOS model, mapped to its implementation.

Built-in models run inside the workflow's own Python and need no weights.  Every
later model (SAM2, and the externally installed Cutie, XMem, LiVOS, TMO) plugs
into the same table: the workflow asks the registry what a model needs (a GPU,
its own environment) and the ``stseg infer`` command builds it by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import StsegError
from .base import OptionError, Propagator

__all__ = ["ModelSpec", "REGISTRY", "UnknownModelError", "known_models", "get_spec", "build_model", "check_options", "model_class",
           "OptionError", "Propagator", "readiness"]


@dataclass(frozen=True)
class ModelSpec:
    """What the workflow needs to know about a model type."""

    name: str
    target: str  #: ``"module:Class"`` of its :class:`Propagator`
    gpu: bool  #: whether a job of this model should ask the scheduler for a GPU
    summary: str
    #: runs from an upstream checkout in its own environment (``envs/<name>.yaml`` or ``models.<m>.python``)
    external: bool = False
    #: gives one foreground mask per frame instead of the annotation's objects (TMO); see stseg.foreground
    foreground_only: bool = False
    #: a weight-free baseline (the built-in models): with ``pgmr.baselines: fallback`` it is neither the final
    #: answer nor a voter of the fusion when a trained model is configured (stseg.selection)
    baseline: bool = False


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("copy", "stseg.models.first_mask:FirstMaskCopy", False, "first-frame mask repeated on every frame",
                  baseline=True),
        ModelSpec("copy-foreground", "stseg.models.first_mask:FirstMaskForeground", False,
                  "first-frame foreground repeated (foreground only, like TMO)", foreground_only=True, baseline=True),
        ModelSpec("flow", "stseg.models.flow:FlowPropagation", False, "DIS optical-flow propagation of the label map",
                  baseline=True),
        ModelSpec("global", "stseg.models.global_motion:GlobalMotionWarp", False, "camera-motion homography warp of the first mask",
                  baseline=True),
        ModelSpec("appearance", "stseg.models.appearance:ColourTracker", False,
                  "per-object colour model searched near the last position", baseline=True),
        ModelSpec("precomputed", "stseg.models.precomputed:PrecomputedMasks", False,
                  "masks made elsewhere, read from options.path/<video>/<frame>.png and validated"),
        ModelSpec("sam2", "stseg.models.sam2:SAM2Propagator", True,
                  "SAM 2.1 video predictor (sam2 package), memory bounded in video length"),
        ModelSpec("sam3", "stseg.models.sam3:SAM3Propagator", True,
                  "SAM 3 tracker (sam3 package), mask prompts, in its own environment (models.<name>.python); GPU only",
                  external=True),
        ModelSpec("edgetam", "stseg.models.edgetam:EdgeTAMPropagator", True,
                  "EdgeTAM (edgetam-dimos), SAM 2's on-device tracker, in its own environment (models.<name>.python)",
                  external=True),
        ModelSpec("cutie", "stseg.models.cutie:CutiePropagator", True,
                  "Cutie (hkchengrex/Cutie): rf-cutie from PyPI, or a checkout in its own environment", external=True),
        ModelSpec("xmem", "stseg.models.xmem:XMemPropagator", True,
                  "XMem (hkchengrex/XMem) from its checkout, own environment", external=True),
        ModelSpec("livos", "stseg.models.livos:LiVOSPropagator", True,
                  "LiVOS (uncbiag/LiVOS) from its checkout, own environment", external=True),
        ModelSpec("tmo", "stseg.models.tmo:TMOForeground", True, "TMO (suhwan-cho/TMO), unsupervised: foreground only, own environment",
                  external=True, foreground_only=True),
    )
}


class UnknownModelError(StsegError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; this one reads as a sentence
        return str(self.args[0])


def known_models() -> list[str]:
    return sorted(REGISTRY)


def get_spec(model_type: str) -> ModelSpec:
    try:
        return REGISTRY[model_type]
    except KeyError:
        raise UnknownModelError(
            f"unknown model type {model_type!r}; known models: {', '.join(known_models())}. "
            "Fix the model's 'type' (or its name) under 'models:' in the config."
        ) from None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def model_class(model_type: str) -> type[Propagator]:
    module_name, class_name = get_spec(model_type).target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def check_options(model_type: str, options: Mapping[str, Any], where: str = "options") -> None:
    """Option names and value types against the model's ``defaults`` (at parse time: one error before any job).

    A default of ``None`` takes any value; an integer default takes integers only.
    """
    defaults = model_class(model_type).defaults
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise OptionError(f"{where}: unknown option(s) {unknown} for model type {model_type!r}; "
                          f"known options: {sorted(defaults)}. Fix the option's name in the config.")
    limits = model_class(model_type).limits
    for name, value in options.items():
        default = defaults[name]
        if default is None:
            continue
        expected = _kind(default)
        integer = isinstance(default, int) and not isinstance(default, bool)
        wrong = _kind(value) != expected or (integer and not isinstance(value, int))
        if wrong:
            words = {"bool": "true or false", "number": "a number", "string": "a string"}
            want = "an integer" if integer else words.get(expected, expected)
            raise OptionError(f"{where}.{name}: {value!r} is not {want} (the default is {default!r}). "
                              "Fix the option's value in the config.")
        problem = limits[name].problem(value) if name in limits else None
        if problem:
            raise OptionError(f"{where}.{name}: {problem} (the default is {default!r}; allowed: {limits[name]}). "
                              "Fix the option's value in the config.")


def build_model(model_type: str, options: Mapping[str, Any] | None = None) -> Propagator:
    """Instantiate a registered model with its options (unknown options are an error)."""
    return model_class(model_type)(**dict(options or {}))


def readiness(model_type: str) -> str:
    """Whether this Python can run ``model_type`` now, and from where (``stseg models``).

    Built-in models always can; ``sam2`` needs the ``sam2`` package; the external models need a checkout
    (``$STSEG_<MODEL>_REPO``, or ``options.repo`` in a config) or, for Cutie, rf-cutie installed from PyPI.
    A checkpoint is still needed for the models that use one."""
    import importlib.util

    spec = get_spec(model_type)
    if model_type == "sam2":
        return "ready (sam2 installed)" if importlib.util.find_spec("sam2") else 'not installed (docs/models.md: "SAM 2")'
    if not spec.external:
        return "ready (built in)"
    if model_type == "sam3":
        return "ready (sam3 installed)" if importlib.util.find_spec("sam3") else "needs its own venv: models.<name>.python"
    if model_type == "edgetam":
        from .edgetam import CONFIG

        found = importlib.util.find_spec("sam2")
        here = found is not None and found.origin is not None and (Path(found.origin).parent / CONFIG).is_file()
        return "ready (edgetam-dimos installed)" if here else "needs its own venv: models.<name>.python"
    from .upstream import _repo_setting, installed_package

    repo, variable = _repo_setting(model_type, None)
    if repo is None:
        return f"needs options.repo or ${variable}"
    if installed_package(model_type) is not None and str(repo) == str(installed_package(model_type)):
        return "ready (installed from PyPI)"
    return f"checkout ${variable}"
