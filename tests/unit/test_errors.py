"""stseg.errors: every expected error of the package shares the one base the CLI prints plainly."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import stseg
from stseg.errors import MissingInputError, StsegError


def package_errors() -> dict[str, type]:
    """Every exception class defined in a stseg module (name -> class)."""
    found = {}
    for info in pkgutil.walk_packages(stseg.__path__, "stseg."):
        if info.name in ("stseg.__main__",):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def test_every_error_class_of_the_package_is_an_stseg_error():
    errors = package_errors()
    assert len(errors) >= 9  # the dataset, mask, config, option, checkpoint, upstream, submission... errors
    assert [name for name, kind in errors.items() if not issubclass(kind, StsegError)] == []


def test_each_keeps_a_builtin_base_so_callers_catching_those_still_catch_it():
    errors = {name: kind for name, kind in package_errors().items() if kind is not StsegError}
    builtin = (ValueError, FileNotFoundError, KeyError, OSError, RuntimeError, MemoryError, ImportError)
    assert [name for name, kind in errors.items() if not issubclass(kind, builtin)] == []
    assert issubclass(MissingInputError, FileNotFoundError)
