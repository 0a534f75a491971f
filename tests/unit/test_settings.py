"""Typed stage settings: the schema is the one source of defaults; each stage gets exactly its fields."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from stseg import settings
from stseg.settings import STAGES, FuseSettings, PseudoLabelSettings, SelectSettings, defaults, from_config, from_json, to_json


def test_defaults_come_from_the_schema():
    schema = yaml.safe_load(settings.SCHEMA.read_text())["properties"]
    for kind in STAGES.values():
        for field in dataclasses.fields(kind):
            section = settings.SECTION.get(field.name, "pgmr")
            assert getattr(defaults(kind), field.name) == schema[section]["properties"][field.name]["default"]
            assert field.default is dataclasses.MISSING  # no second default in the dataclass


def test_every_pgmr_key_reaches_exactly_one_kind_of_stage_or_the_plan():
    schema = yaml.safe_load(settings.SCHEMA.read_text())["properties"]["pgmr"]["properties"]
    used = {f.name for kind in STAGES.values() for f in dataclasses.fields(kind)}
    assert set(schema) - used == {"models"}  # the voters are the Plan's business (which masks each rule reads)


def test_from_config_takes_the_validated_values_and_refuses_a_missing_one():
    config = {"pgmr": {**settings.schema_defaults("pgmr"), "strategy": "object"}, "evaluation": {"variant": "mose"}}
    chosen = from_config(SelectSettings, config)
    assert chosen.strategy == "object" and chosen.variant == "mose" and chosen.edge_power == 2.0
    with pytest.raises(KeyError, match="pgmr.min_votes is not in the config"):
        from_config(FuseSettings, {"pgmr": {"box_weighting": "uniform"}})


def test_json_round_trip_and_strictness():
    original = defaults(PseudoLabelSettings, threshold=0.6)
    assert from_json(PseudoLabelSettings, to_json(original)) == original
    with pytest.raises(ValueError, match="need exactly"):
        from_json(PseudoLabelSettings, json.dumps({"threshold": 0.5}))
    with pytest.raises(ValueError, match="not a finite number"):
        from_json(FuseSettings, '{"min_votes": NaN, "box_weighting": "agreement"}')
    with pytest.raises(TypeError, match="has no field"):
        defaults(FuseSettings, threshold=0.5)
