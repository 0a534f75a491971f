"""The one rule for every name that becomes part of a path: videos, models and fine-tune runs.

A name is a single folder or file name that Snakemake and every ``stseg``
command can carry as it is:

* not empty, not ``.`` or ``..``, and no ``/``, ``\\``, NUL or other control character
  (it could point outside the results folder, or into the dataset);
* not starting with ``-`` (a command would read it as an option) or ``.`` (stseg's
  partial outputs are hidden names);
* no ``{`` or ``}`` (Snakemake's wildcard syntax) and no ``=`` (``MODEL=PATH`` arguments);
* at most :data:`MAX_NAME_BYTES` bytes in UTF-8, so that the longest file stseg
  derives from it (the hidden partial of ``<name>.csv`` beside its final name)
  stays under the 255-byte limit of common file systems.

Every per-name output has its own folder and one fixed suffix
(``scores/<video>.csv``, ``outcome/<video>.csv``, ``weights/<video>.csv``,
``pseudo/<video>/``, ``masks/<model>/<video>/``, ...), so two valid names never
map to one path.
"""

from __future__ import annotations

__all__ = ["MAX_NAME_BYTES", "name_problem"]

MAX_NAME_BYTES = 200


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as a video, model or run name; None when it can."""
    if name in ("", ".", ".."):
        return "it is empty, '.' or '..'"
    bad = sorted({c for c in name if c in "/\\{}=" or ord(c) < 32})
    if bad:
        return f"it contains {', '.join(repr(c) for c in bad)}"
    if name[0] in "-.":
        return f"it starts with {name[0]!r}"
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        return f"it is {size} bytes long (at most {MAX_NAME_BYTES})"
    return None


RULE = ("a name must be one plain folder name of at most 200 bytes, without '/', '\\', '{', '}', '=' or "
        "control characters, not starting with '-' or '.'")
