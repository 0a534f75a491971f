"""Reading and writing the CSV tables passed between rules (atomically, at full float precision)."""

from __future__ import annotations

import os

import pandas as pd

from .files import atomic_path

__all__ = ["write_table", "read_table"]


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as CSV under a temporary name, then rename; floats keep every digit (``repr``)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.17g", lineterminator="\n")


def read_table(path: str | os.PathLike[str], **kwargs) -> pd.DataFrame:
    """Read a CSV written by :func:`write_table` (``frame`` and ``video`` columns stay strings)."""
    return pd.read_csv(path, dtype={"frame": str, "video": str}, keep_default_na=True, **kwargs)
