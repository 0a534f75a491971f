"""stseg.rule_inputs: a part's method becomes a rule's input function of the job's wildcards."""

from __future__ import annotations

from types import SimpleNamespace

from stseg.rule_inputs import over_job_videos, per_batch, per_chunk, per_model, per_model_video, per_run, per_video, times_attempt


def test_each_adapter_passes_the_jobs_wildcards_in_order():
    job = SimpleNamespace(video="v", model="m", batch="00001", chunk="00002", run="r")
    assert per_video(lambda v: f"frames/{v}")(job) == "frames/v"
    assert per_video(lambda models, v: [f"{m}/{v}" for m in models], ["a", "b"])(job) == ["a/v", "b/v"]
    assert per_model(str.upper)(job) == "M" and per_model_video(lambda m, v: (m, v))(job) == ("m", "v")
    assert per_batch(lambda m, b: (m, b))(job) == ("m", "00001") and per_run(str.upper)(job) == "R"
    assert per_chunk(lambda stage, chunk: f"{stage}/{chunk}", "refine")(job) == "refine/00002"
    assert times_attempt(lambda wildcards: 2000)(job, 3) == 6000


def test_a_group_jobs_values_are_each_videos_flattened():
    job = SimpleNamespace(model="m", chunk="00000")
    videos_of = lambda wildcards: ["b", "a"]
    assert over_job_videos(videos_of, lambda v: f"frames/{v}")(job) == ["frames/b", "frames/a"]
    assert over_job_videos(videos_of, lambda v: [f"{v}1", f"{v}2"])(job) == ["b1", "b2", "a1", "a2"]
    assert over_job_videos(videos_of, lambda m, v: [f"{m}.pt"], with_model=True, unique=True)(job) == ["m.pt"]
