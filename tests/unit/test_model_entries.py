"""stseg.model_entries: a configured model checked once, and the roster of models and voters."""

from __future__ import annotations

import pytest

from stseg.config_checks import ConfigError
from stseg.model_entries import ModelEntry, ModelRoster, model_entry
from stseg.results_layout import ResultsLayout

DEFAULTS = {"threads": 1, "mem_mb": 2000, "runtime": 60}


def test_an_entry_knows_its_command_environment_options_and_weights(tmp_path):
    layout = ResultsLayout(tmp_path / "results")
    flow = model_entry("flow", {"type": "flow", "options": {"scale": 0.5}, **DEFAULTS}, {}, layout)
    assert flow.command("/src") == "stseg" and flow.environment("/wf").endswith("envs/stseg.yaml")
    assert flow.options_json == '{"scale":0.5}' and flow.weights("v") == [] and not flow.batched
    own = model_entry("own", {"type": "flow", "python": "/usr/bin/python3", **DEFAULTS}, {}, layout)
    assert own.command("/src") == "env PYTHONPATH=/src /usr/bin/python3 -m stseg.cli"
    masks = tmp_path / "brought"
    (masks / "v").mkdir(parents=True)
    brought = model_entry("mine", {"type": "precomputed", "options": {"path": str(masks)}, **DEFAULTS}, {}, layout)
    assert brought.weights("v") == [str(masks / "v")] and brought.weights("absent") == []
    tuned = model_entry("sam", {"type": "sam2", "finetuned": "mose", "videos_per_job": 4, **DEFAULTS},
                        {"mose": {"train_root": "t"}}, layout)
    assert tuned.checkpoint == layout.finetune("mose") and tuned.weights("v") == [layout.finetune("mose")]
    assert tuned.batched and tuned.gpus == 1  # sam2 asks for a GPU by default
    with pytest.raises(ConfigError, match=r"models.sam.finetuned names 'nope'"):
        model_entry("sam", {"type": "sam2", "finetuned": "nope", **DEFAULTS}, {}, layout)


def test_the_roster_orders_the_voters_as_the_config():
    def entry(name, foreground=False, per_job=1):
        return ModelEntry(name, name, {}, 0, 1, 2000, 60, foreground_only=foreground, videos_per_job=per_job)

    roster = ModelRoster({"copy": entry("copy"), "flow": entry("flow", per_job=4), "tmo": entry("tmo", True)},
                         ("tmo", "flow"))
    assert roster.names == ["copy", "flow", "tmo"] and roster.voting == ["flow", "tmo"]
    assert roster.box_voters == ["flow"] and roster.foreground == ["tmo"] and roster.batched == ["flow"]
    assert ModelRoster({"copy": entry("copy")}).voting == ["copy"]  # no pgmr.models: every model votes
