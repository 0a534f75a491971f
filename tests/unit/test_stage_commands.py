"""stseg.stage_commands: the light stages' command lines, the same for a per-video rule and a chunk job."""

from __future__ import annotations

import copy
import json

import yaml
from helpers import REPO
from snakemake.utils import validate

from stseg.stage_commands import StageCommands
from stseg.workflow import Plan, load_schema


def commands_of(small_demo, tmp_path, **pgmr) -> StageCommands:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"] = {**config["dataset"], "root": str(small_demo), "demo": False}
    config["results"] = str(tmp_path / "results")
    config["models"]["fg"] = {"type": "copy-foreground"}
    config["pgmr"] = {**config["pgmr"], "models": ["flow", "appearance", "fg"], **copy.deepcopy(pgmr)}
    validate(config, schema=str(load_schema()))
    return StageCommands(Plan.from_config(config))


def test_the_selection_reads_the_prior_when_it_needs_it(small_demo, tmp_path):
    commands = commands_of(small_demo, tmp_path)
    args = commands.select_args("twins")
    assert args[:2] == ["--prior", str(tmp_path / "results" / "prior.csv")] and commands.prior_input == args[1:2]
    assert args[args.index("--voters") + 1:args.index("--baselines")] == ["flow", "appearance", "fg"]
    assert args[args.index("--baselines") + 1:args.index("--frames")] == ["copy", "flow", "global", "appearance", "fg"]
    assert commands.foreground_args == ["--foreground-model", "fg"]
    alone = commands_of(small_demo, tmp_path, prior_margin=None)  # the fusion's reliabilities: the video's own scores
    assert not alone.uses_prior and "--prior" not in alone.select_args("twins") and alone.prior_input == []
    assert commands_of(small_demo, tmp_path, prior_margin=None, fuse_reliability="prior").uses_prior


def test_a_videos_steps_are_the_rules_commands(small_demo, tmp_path):
    commands = commands_of(small_demo, tmp_path)
    results = tmp_path / "results"
    fuse, split, pseudo, score = (s.argv for s in commands.video_steps("refine", "twins"))
    assert fuse[0] == "fuse" and list(fuse[fuse.index("--masks") + 1:fuse.index("--annotation")]) == \
        [f"{m}={results / 'masks' / m / 'twins'}" for m in ("flow", "appearance")]
    assert split[split.index("--foreground") + 1] == str(results / "foreground" / "fg" / "twins")
    assert f"fg={results / 'foreground' / 'fg' / 'twins'}" in pseudo and "--foreground-model" in pseudo
    assert score[score.index("--gt") + 1].endswith("Annotations/twins")
    select, overlay = (s.argv for s in commands.video_steps("select", "twins"))
    assert select[select.index("--final") + 1] == str(results / "final" / "twins") and overlay[0] == "overlay"
    assert json.loads(commands.chunk_steps("select", "00000")) == []  # no chunks: no chunk job has steps
