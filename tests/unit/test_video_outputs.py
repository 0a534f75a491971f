"""stseg.video_outputs: a run's targets, and what stands for a video's outputs in each layout."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from helpers import REPO
from snakemake.utils import validate

from stseg.video_outputs import VideoOutputs
from stseg.workflow import Plan, load_schema


def plan_of(small_demo, tmp_path, **layout) -> Plan:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["dataset"] = {**config["dataset"], "root": str(small_demo), "demo": False}
    config["results"] = str(tmp_path / "results")
    config.update(copy.deepcopy(layout))
    validate(config, schema=str(load_schema()))
    return Plan.from_config(config)


def test_per_video_layout_targets_every_intermediate(small_demo, tmp_path):
    outputs = VideoOutputs(plan_of(small_demo, tmp_path))
    results = tmp_path / "results"
    targets = outputs.targets()
    assert str(results / "masks" / "flow" / "twins") in targets and str(results / "pseudo" / "twins") in targets
    assert str(results / "report" / "calibration.png") in targets  # the small demo has ground truth
    assert outputs.calibration == [str(results / "report" / "calibration.png")]
    without = VideoOutputs(plan_of(small_demo, tmp_path, dataset={"root": str(small_demo), "demo": False,
                                                                   "ground_truth": "no"}))
    assert without.calibration == [] and not any("calibration" in t for t in without.targets())
    assert outputs.made_by("final", "select") == [str(results / "final" / v) for v in ("crossing", "fast-ball", "twins")]
    assert outputs.records() == []
    assert (results / "final" / "twins", tuple(f"{t:05d}" for t in range(10))) in outputs.folders()
    assert outputs.of_video("twins")[-2:] == [results / "final" / "twins", results / "outcome" / "twins.csv"]
    assert outputs.of_video("gone") == [] and outputs.shared_logs("twins") == []


def test_chunked_layout_targets_the_records_that_own_the_outputs(small_demo, tmp_path):
    outputs = VideoOutputs(plan_of(small_demo, tmp_path, inference={"videos_per_job": 2}, stages={"videos_per_job": 2}))
    results = tmp_path / "results"
    targets = outputs.targets()
    assert str(results / "chunks" / "select" / "00001.json") in targets
    assert str(results / "masks" / "flow" / "twins") not in targets and str(results / "batches" / "flow" / "00001.json") in targets
    assert outputs.made_by("scores", "refine") == [str(results / "chunks" / "refine" / c) + ".json" for c in ("00000", "00001")]
    owned = dict(dict(outputs.records())[results / "chunks" / "select" / "00001.json"])
    assert owned[results / "final" / "twins"] == tuple(f"{t:05d}" for t in range(10)) and owned[results / "outcome" / "twins.csv"] is None
    assert Path(results / "logs" / "chunks" / "refine" / "00001.log") in outputs.shared_logs("twins")


def test_what_a_user_changed_in_the_outputs_a_record_owns(small_demo, tmp_path):
    # the chunked layout: Snakemake sees the records, so an output they own is compared with its record
    import os
    import time

    hour, now = 3600 * 10**9, time.time_ns()
    plan = plan_of(small_demo, tmp_path, stages={"videos_per_job": 2})
    outputs = VideoOutputs(plan)
    video = sorted(plan.videos)[0]
    pseudo = Path(plan.layout.folder("pseudo", video))
    record = outputs.owners()[pseudo]
    assert record == Path(plan.layout.chunk_record("refine", plan.chunks.of(video)))
    pseudo.mkdir(parents=True)
    for frame in plan.videos[video].frames:
        (pseudo / f"{frame}.png").write_bytes(b"label")
        os.utime(pseudo / f"{frame}.png", ns=(now - 3 * hour, now - 3 * hour))
    os.utime(pseudo, ns=(now - 3 * hour, now - 3 * hour))
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    os.utime(record, ns=(now - 2 * hour, now - 2 * hour))  # the chunk job finished after writing them
    assert outputs.edited(pseudo) is None and outputs.incomplete(pseudo) is None
    os.utime(pseudo / f"{plan.videos[video].frames[1]}.png", ns=(now - hour, now - hour))
    assert outputs.edited(pseudo) == f"edited {now - hour}"
    scores = Path(plan.layout.table("scores", video))
    scores.parent.mkdir(parents=True)
    scores.write_text("edited by hand")
    assert outputs.edited(scores).startswith("edited ")  # a table the record owns
    (pseudo / f"{plan.videos[video].frames[1]}.png").unlink()
    assert outputs.incomplete(pseudo).startswith("missing ")
