"""Typed settings of the PGMR stages, each built once from the validated config.

Every default lives in one place, the config's JSON schema
(``stseg/schemas/config.schema.yaml``): Snakemake's ``validate`` writes the
schema's defaults into the config, the :class:`~stseg.workflow.Plan` builds one
settings object per stage from it, and each rule hands its stage that object as
one JSON argument (``--settings``).  A stage gets exactly the fields it uses, so
changing, say, ``pgmr.strategy`` reruns the selection and not the pseudo-labels.
Code that builds settings outside the workflow (tests, benchmarks) calls
:func:`defaults` with the values it changes; the rest come from the schema.

Each field's name is the config key; :data:`SECTION` says which section holds it
(``pgmr`` unless listed).
"""

from __future__ import annotations

import dataclasses
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

__all__ = [
    "FuseSettings", "PseudoLabelSettings", "ScoreSettings", "SelectSettings", "SplitSettings",
    "STAGES", "defaults", "from_config", "from_json", "schema_defaults", "to_json",
]

SCHEMA = Path(__file__).with_name("schemas") / "config.schema.yaml"
#: config section of the fields that are not under ``pgmr``
SECTION = {"variant": "evaluation"}

T = TypeVar("T")


@lru_cache(maxsize=None)
def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's default of every key of a config section."""
    schema = yaml.safe_load(SCHEMA.read_text())
    properties = schema["properties"][section]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


@dataclasses.dataclass(frozen=True)
class FuseSettings:
    """Box fusion (:mod:`stseg.fusion`)."""

    min_votes: int
    box_weighting: str


@dataclasses.dataclass(frozen=True)
class PseudoLabelSettings:
    """Pseudo-labels (:mod:`stseg.pseudolabel`)."""

    threshold: float
    ring_weight: float
    use_boxes: bool
    weighting: str
    gamma: float
    redundancy_power: float

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError("pseudo-label threshold must lie in (0, 1]")
        if not 0 <= self.ring_weight <= 1:
            raise ValueError("pseudo-label ring_weight must lie in [0, 1]")


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """A foreground-only model's split into objects (:mod:`stseg.foreground`)."""

    ring_weight: float


@dataclasses.dataclass(frozen=True)
class ScoreSettings:
    """Scoring against the pseudo-labels and the ground truth (:mod:`stseg.scoring`)."""

    variant: str
    absent: str


@dataclasses.dataclass(frozen=True)
class SelectSettings:
    """The choice and the final masks (:mod:`stseg.selection`)."""

    strategy: str
    variant: str
    edge_power: float
    prior_margin: float | None
    absent: str
    fuse_level: str
    fuse_support: float
    fuse_tolerance: float
    fuse_reliability: str
    fuse_add: bool
    baselines: str
    auto_margin: float


#: rule name -> its settings type
STAGES: dict[str, type] = {
    "fuse": FuseSettings,
    "pseudolabel": PseudoLabelSettings,
    "split_foreground": SplitSettings,
    "score": ScoreSettings,
    "select": SelectSettings,
}


def _field_values(cls: type[T], config: Mapping[str, Any], fill: bool) -> dict[str, Any]:
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        section = SECTION.get(field.name, "pgmr")
        given = config.get(section) or {}
        if field.name in given:
            values[field.name] = given[field.name]
        elif fill:
            values[field.name] = schema_defaults(section)[field.name]
        else:
            raise KeyError(f"{section}.{field.name} is not in the config (was it validated against the schema?)")
    return values


def from_config(cls: type[T], config: Mapping[str, Any]) -> T:
    """The stage settings from a config that the schema has validated (its defaults filled in)."""
    return cls(**_field_values(cls, config, fill=False))


def defaults(cls: type[T], **changes: Any) -> T:
    """The stage settings at the schema's defaults, with ``changes``."""
    values = _field_values(cls, {}, fill=True)
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    return cls(**{**values, **changes})


def to_json(settings: Any) -> str:
    return json.dumps(dataclasses.asdict(settings), sort_keys=True, separators=(",", ":"))


def from_json(cls: type[T], text: str) -> T:
    """Settings from a rule's ``--settings`` argument (every field given; nothing defaulted here)."""
    values = json.loads(text)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if set(values) != names:
        raise ValueError(f"{cls.__name__} settings need exactly {sorted(names)}; got {sorted(values)}")
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{cls.__name__}.{name}: {value} is not a finite number")
    return cls(**values)
