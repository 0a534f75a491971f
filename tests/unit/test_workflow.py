"""stseg.workflow: the Plan a validated config becomes, and every check it makes before any job runs."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from helpers import REPO
from snakemake.utils import validate

from stseg.settings import PseudoLabelSettings, from_json
from stseg.stage_commands import StageCommands
from stseg.video_outputs import VideoOutputs
from stseg.workflow import ConfigError, Plan, check_config_files, load_schema


def validated(config: dict) -> dict:
    config = copy.deepcopy(config)
    validate(config, schema=str(load_schema()))  # fills the schema's defaults, as rules/common.smk does
    return config


@pytest.fixture
def config(small_demo, tmp_path):
    base = yaml.safe_load((REPO / "config.yaml").read_text())
    base["dataset"] = {**base["dataset"], "root": str(small_demo), "demo": False}
    base["results"] = str(tmp_path / "results")
    base["models"]["fg"] = {"type": "copy-foreground"}  # a foreground-only model
    return base


def test_the_plan_of_the_default_config(config, tmp_path):
    plan = Plan.from_config(validated(config))
    assert sorted(plan.videos) == ["crossing", "fast-ball", "twins"] and plan.invalid == {}
    assert plan.models.names == ["copy", "flow", "global", "appearance", "fg"]
    assert plan.models.voting == ["flow", "global", "appearance"]
    assert plan.models.foreground == ["fg"]
    assert plan.raw_masks("fg", "twins") == str(tmp_path / "results" / "foreground" / "fg" / "twins")
    assert plan.raw_masks("flow", "twins") == str(tmp_path / "results" / "masks" / "flow" / "twins")
    assert plan.inputs.frames_dir("twins").endswith("JPEGImages/twins")
    assert len(plan.inputs.annotation_files("twins")) == 10 and plan.inputs.has_ground_truth("twins")
    assert json.loads(plan.models["flow"].options_json) == {"preset": "medium", "scale": 1.0}
    pseudo = from_json(PseudoLabelSettings, plan.settings_json("pseudolabel"))
    assert pseudo.threshold == 0.5 and pseudo.ring_weight == 0.75


def test_a_model_option_typo_is_one_error_before_any_job(config):
    config["models"]["flow"]["options"]["presett"] = "fast"
    with pytest.raises(ConfigError, match=r"models.flow.options: .*unknown option\(s\) \['presett'\]"):
        Plan.from_config(validated(config))


def test_voters_must_exist_segment_objects_and_reach_min_votes(config):
    bad = copy.deepcopy(config)
    bad["pgmr"]["models"] = ["flow", "nowhere"]
    with pytest.raises(ConfigError, match=r"pgmr.models names \['nowhere'\]"):
        Plan.from_config(validated(bad))
    only_foreground = copy.deepcopy(config)
    only_foreground["pgmr"]["models"] = ["fg"]
    with pytest.raises(ConfigError, match="only foreground-only models"):
        Plan.from_config(validated(only_foreground))
    unreachable = copy.deepcopy(config)
    unreachable["pgmr"]["min_votes"] = 4
    with pytest.raises(ConfigError, match="pgmr.min_votes is 4 but only 3 model"):
        Plan.from_config(validated(unreachable))


def test_results_inside_the_dataset_is_refused(config, small_demo):
    config["results"] = str(small_demo / "results")
    with pytest.raises(ConfigError, match="inside"):
        Plan.from_config(validated(config))


def test_a_duplicated_config_key_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pgmr:\n  threshold: 0.5\n  threshold: 0.6\n")
    with pytest.raises(Exception, match="threshold"):
        check_config_files([path])


def test_batched_models_get_their_assignment_kept_and_stamps_that_follow_their_inputs(config, small_demo, tmp_path):
    config["inference"] = {"videos_per_job": 2, "gpu_videos_per_job": 3}
    config["models"]["flow"]["gpus"] = 1
    config["models"]["copy"]["videos_per_job"] = 1  # a model's own setting wins
    plan = Plan.from_config(validated(config))
    assert plan.models["flow"].videos_per_job == 3 and plan.models["global"].videos_per_job == 2
    assert "copy" not in plan.batches and plan.batches["global"].groups == {"00000": ["crossing", "fast-ball"], "00001": ["twins"]}
    assert plan.batches["global"].of("twins") == "00001"
    assert plan.batch_record("global", "twins") == str(tmp_path / "results" / "batches" / "global" / "00001.json")
    plan.keep_groups()
    kept = json.loads((tmp_path / "results" / ".stseg" / "groups.json").read_text())
    assert kept["infer/global"] == {"per_job": 2, "kind": "global", "groups": plan.batches["global"].groups}
    stamp = plan.video_stamp("global", "twins")
    assert stamp == Plan.from_config(validated(config)).video_stamp("global", "twins")  # the same inputs, the same stamp
    changed = copy.deepcopy(config)
    changed["models"]["global"]["options"] = {"transform": "affine"}
    assert Plan.from_config(validated(changed)).video_stamp("global", "twins") != stamp
    assert json.loads(plan.batch_videos("global", "00001")) == [
        {"video": "twins", "frames": plan.inputs.frames_dir("twins"), "annotation": plan.inputs.given_annotations("twins"),
         "stamp": stamp}]


def test_the_chunked_layout_cuts_the_light_stages_keeps_its_chunks_and_gives_each_job_the_per_video_commands(config, tmp_path):
    config["inference"] = {"videos_per_job": 2}
    config["stages"] = {"videos_per_job": 2}
    plan = Plan.from_config(validated(config))
    results = tmp_path / "results"
    assert plan.chunks and plan.chunks.groups == {"00000": ["crossing", "fast-ball"], "00001": ["twins"]}
    assert plan.job_videos({"chunk": "00000"}) == ["crossing", "fast-ball"]
    assert plan.job_videos({"model": "flow", "batch": "00001"}) == ["twins"]
    assert plan.job_videos({"video": "twins"}) == ["twins"] and plan.job_videos({}) == []
    plan.keep_groups()
    kept = json.loads((results / ".stseg" / "groups.json").read_text())
    assert kept["stages"] == {"per_job": 2, "kind": "stages", "groups": plan.chunks.groups}
    # a batched model's job puts its masks in place itself, and the chunk jobs wait for its record
    assert json.loads(plan.batch_videos("flow", "00001"))[0]["place"] == str(results / "masks" / "flow" / "twins")
    assert plan.mask_source("flow", "twins") == str(results / "batches" / "flow" / "00001.json")
    steps = json.loads(StageCommands(plan).chunk_steps("refine", "00001"))
    assert [s["argv"][0] for s in steps] == ["fuse", "split-foreground", "pseudolabel", "score"]
    assert {s["video"] for s in steps} == {"twins"}
    fuse, split, pseudo, score = (s["argv"] for s in steps)
    voters = [a.split("=")[0] for a in fuse[fuse.index("--masks") + 1:fuse.index("--annotation")]]
    assert voters == ["flow", "global", "appearance"]  # the box voters: pgmr.models, object-level
    assert split[split.index("--foreground") + 1] == str(results / "foreground" / "fg" / "twins")
    assert "--foreground-model" not in pseudo  # fg does not vote (pgmr.models)
    assert "--gt" in score  # the small demo has ground truth on every frame
    assert [s["argv"][0] for s in json.loads(StageCommands(plan).chunk_steps("select", "00000"))] == ["select", "overlay"] * 2
    records = dict(VideoOutputs(plan).records())
    owned = dict(records[results / "chunks" / "refine" / "00001.json"])
    assert owned[results / "pseudo" / "twins"] == plan.videos["twins"].frames and owned[results / "scores" / "twins.csv"] is None
    assert results / "masks" / "flow" / "twins" in dict(records[results / "batches" / "flow" / "00001.json"])
    # the kept chunks stay while stages.videos_per_job does; a changed one cuts them again
    config["stages"] = {"videos_per_job": 3}
    assert Plan.from_config(validated(config)).chunks.groups == {"00000": ["crossing", "fast-ball", "twins"]}
    config["stages"] = {"videos_per_job": 1}
    assert not Plan.from_config(validated(config)).chunks
