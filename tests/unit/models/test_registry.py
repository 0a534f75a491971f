"""stseg.models (the registry): model types, their options and readiness."""

from __future__ import annotations

import re

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


def test_option_values_out_of_range_are_refused_when_checked_and_when_built():
    """Each model type declares its options' ranges once (``limits``): the workflow's parse refuses a value out of
    range with the key, the value and what is allowed, and so does building the model; `stseg models --options`
    lists them."""
    import subprocess
    import sys

    from stseg.models import OptionError, build_model, check_options

    for kind, options, said in (("flow", {"scale": 5}, "models.m.options.scale: 5 is above its maximum 1.0"),
                                ("flow", {"preset": "fastt"}, "'fastt' is not one of 'fast', 'medium', 'ultrafast'"),
                                ("appearance", {"bins": 0}, "models.m.options.bins: 0 is below its minimum 2"),
                                ("global", {"features": -5}, "models.m.options.features: -5 is below its minimum 10"),
                                ("global", {"transform": "similarity"}, "one of 'homography', 'affine'")):
        with pytest.raises(OptionError, match=re.escape(said)):
            check_options(kind, options, "models.m.options")
        with pytest.raises(OptionError, match="allowed: "):
            build_model(kind, options)
    check_options("flow", {"scale": 0.5, "preset": "fast"}, "models.m.options")
    listed = subprocess.run([sys.executable, "-m", "stseg.cli", "models", "--options"], capture_output=True, text=True).stdout
    assert "    options.bins: default 24; 2 <= value <= 256" in listed
    assert "    options.transform: default 'homography'; one of homography, affine" in listed


def test_every_model_types_limits_are_its_own_options():
    """A limit on an option the type does not have (one inherited from the type it builds on) would fail every
    build of the model with a KeyError: each type's limits name its own options only."""
    from stseg.models import model_class

    for kind in known_models():
        cls = model_class(kind)
        assert set(cls.limits) <= set(cls.defaults), (kind, sorted(set(cls.limits) - set(cls.defaults)))
