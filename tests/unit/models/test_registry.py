"""stseg.models (the registry): model types, their options and readiness."""

from __future__ import annotations

import pytest

from stseg.models import REGISTRY, OptionError, UnknownModelError, build_model, get_spec, known_models

BUILTINS = ["copy", "flow", "global", "appearance"]


def test_registry_lists_the_builtins():
    assert set(BUILTINS) <= set(known_models())
    assert all(not REGISTRY[m].gpu for m in BUILTINS)


def test_unknown_model_lists_the_known_ones():
    known = "appearance, copy, copy-foreground, cutie, edgetam, flow, global, livos, precomputed, sam2, sam3, tmo, xmem"
    with pytest.raises(UnknownModelError, match=rf"unknown model type 'cutie2'; known models: {known}\. Fix"):
        get_spec("cutie2")


def test_unknown_option_is_named():
    with pytest.raises(OptionError, match=r"unknown option\(s\) \['speed'\]; known options: \['preset', 'scale', 'soft'\]"):
        build_model("flow", {"speed": 3})
