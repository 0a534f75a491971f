"""The one base of stseg's expected, user-facing errors.

An :class:`StsegError` is a problem with the user's input or setup (a file, a
config key, a missing checkout); its message names what is wrong and the fix.
The ``stseg`` command prints it as one line and exits with status 2; anything
else is a bug and raises with its traceback.  Each module's error keeps a
built-in base too (``ValueError``, ``FileNotFoundError``, ...) so that callers
catching those still catch it.
"""

from __future__ import annotations

__all__ = ["StsegError", "MissingInputError", "WEIGHTS_TABLE", "EXTERNAL_MODELS"]

#: where a user finds every model's weights (file, source, licence, checksum): named by each missing-weights error
WEIGHTS_TABLE = "docs/models.md, 'Where the weights come from'"
#: how an external model's checkout and environment are set up
EXTERNAL_MODELS = "docs/models.md, 'External models'"


class StsegError(Exception):
    """An expected error about the user's input or setup; the message says which and what to do."""


class MissingInputError(StsegError, FileNotFoundError):
    """A file or folder a stage needs is not there."""
