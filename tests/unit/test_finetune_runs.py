"""stseg.finetune_runs: each run checked before any job, and what its rules need."""

from __future__ import annotations

import json

import pytest

from stseg.config_checks import ConfigError
from stseg.finetune_runs import FinetuneRuns, check_finetune_runs, flow_id
from stseg.results_layout import ResultsLayout


def test_flow_id_names_a_root_not_its_spelling(tmp_path):
    assert flow_id(tmp_path) == flow_id(tmp_path / "." / "") and flow_id(tmp_path) != flow_id(tmp_path / "other")


def test_every_run_is_checked_and_all_problems_reported_together(small_demo, tmp_path):
    init = tmp_path / "init.pt"
    init.write_bytes(b"weights")
    runs = {"good": {"train_root": str(small_demo), "init_checkpoint": str(init)},
            "no-init": {"train_root": str(small_demo)},
            "no-root": {"train_root": str(tmp_path / "nowhere"), "init_checkpoint": str(init)}}
    with pytest.raises(ConfigError) as raised:
        check_finetune_runs(runs, tmp_path / "cache")
    text = str(raised.value)
    assert "2 problems" in text and "finetune.no-init: init_checkpoint is required" in text
    assert "finetune.no-root.train_root: " in text and "Set finetune.no-root.train_root in the config" in text
    assert check_finetune_runs({"good": runs["good"]}, tmp_path / "cache") == {"good": ()}


def test_what_the_rules_ask_of_a_run(tmp_path):
    layout = ResultsLayout(tmp_path / "results")
    runs = FinetuneRuns({"s": {"train_root": "/data/train", "size": "tiny", "mem_mb": 64000, "gpus": 8, "init_checkpoint": "~/a.pt"},
                         "t": {"model": "tmo", "train_root": "/data/train", "lr": 1e-5}}, layout, {"t": ("v1", "v2")})
    assert runs.of_model("sam2") == ["s"] and runs.of_model("tmo") == ["t"]
    assert runs.resources("s") == (8, 64000, 1440) and runs.resources("t").gpus == 1
    # the GPUs are the job's resource (stseg finetune --gpus {resources.gpu}: what Snakemake gives it), not a setting
    assert json.loads(runs.settings_json("s")) == {"init_checkpoint": "~/a.pt", "size": "tiny", "train_root": "/data/train"}
    settings = json.loads(runs.settings_json("t"))
    assert settings["flow_root"] == layout.flow(flow_id("/data/train")) and settings["videos"] == ["v1", "v2"]
    assert runs.flow_dirs("t") == [layout.flow(flow_id("/data/train"), v) for v in ("v1", "v2")]
    assert list(runs.flow_roots()) == [flow_id("/data/train")] and runs.init_checkpoint("t") == []
