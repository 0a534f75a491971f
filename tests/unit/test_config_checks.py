"""stseg.config_checks: what a schema cannot say, each problem named, all of a parse reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from stseg.config_checks import ConfigError, Problems, check_finite, check_names, check_voters, config_path


def test_problems_are_gathered_and_raised_together():
    problems = Problems()
    assert problems.check(config_path, "~/x", "results") == Path.home() / "x"  # '~' is the home folder
    assert problems.check(config_path, "  ", "results") is None
    assert problems.check(check_finite, {"pgmr": {"gamma": float("nan")}}) is None
    assert problems.check(check_names, {"../x": {}}, {}) is None
    with pytest.raises(ConfigError) as raised:
        problems.raise_all()
    text = str(raised.value)
    assert text.startswith("3 problems in the config or the data; nothing was run:")
    assert "- results: the path is empty" in text and "- pgmr.gamma: nan is not a finite number" in text
    assert "- models: the name '../x' cannot be used" in text
    single = Problems()
    single.check(config_path, "", "dataset.root")
    with pytest.raises(ConfigError, match=r"^dataset.root: the path is empty"):
        single.raise_all()
    Problems().raise_all()  # nothing found: nothing raised


def test_voters_are_configured_models_that_can_reach_min_votes():
    kinds = {"a": False, "b": False, "tmo": True}
    check_voters({"models": ["a", "tmo"], "min_votes": 1}, kinds)
    with pytest.raises(ConfigError, match=r"pgmr.models names \['zz'\]"):
        check_voters({"models": ["a", "zz"], "min_votes": 1}, kinds)
    with pytest.raises(ConfigError, match="only foreground-only models"):
        check_voters({"models": ["tmo"], "min_votes": 1}, kinds)
    with pytest.raises(ConfigError, match="pgmr.min_votes is 3 but only 2 model"):
        check_voters({"models": [], "min_votes": 3}, kinds)


def test_a_video_that_lost_a_ground_truth_frame_is_named_with_the_reason(small_demo, tmp_path, capsys):
    import shutil

    from stseg.config_checks import validated_videos

    root = tmp_path / "data"
    shutil.copytree(small_demo, root)
    (root / "Annotations" / "twins" / "00004.png").unlink()  # a hole in the middle of the ground truth
    valid, _ = validated_videos({"on_invalid": "error", "ground_truth": "auto"}, root, tmp_path / "cache")
    assert not valid["twins"].fully_annotated and valid["crossing"].fully_annotated
    said = capsys.readouterr().err
    assert "stseg: twins: ground truth on 9 of 10 frames (missing 00004.png): it is not scored against the ground truth" in said
    assert "crossing" not in said


@pytest.mark.parametrize("text,said", [
    ("dataset:\n  root: data\n models: [\n", "line 3, column 2: not a YAML config"),
    ("dataset:\n\troot: data\n", "line 2, column 1: not a YAML config"),
    ("a: !!python/object:os.system x\n", "line 1, column 4: not a YAML config"),
    ("- a\n- b\n", "a config is a mapping of keys (dataset:, results:, models:, ...), not a list"),
    ("", "the config file is empty"),
])
def test_a_config_file_that_is_not_a_yaml_mapping_names_its_line(tmp_path, text, said):
    from stseg.config_checks import read_configs

    path = tmp_path / "my-config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        read_configs([path])
    assert str(error.value).startswith(str(path)) and said in str(error.value)


def test_every_schema_problem_in_one_list_with_file_and_line(tmp_path):
    import yaml

    from stseg.config_checks import schema_problems

    path = tmp_path / "my-config.yaml"
    path.write_text("dataset: {root: data}\nresults: out\nmodels:\n  flow:\n    type: flow\n    option: {scale: 1}\n"
                    "pgmr:\n  strategy: fusion\n  threshold: 2\n")
    problems = schema_problems(yaml.safe_load(path.read_text()), [path])
    assert problems == [
        f"{path}, line 6: models.flow.option: unknown key; allowed here: baseline, finetuned, gpus, mem_mb, options, "
        "python, runtime, threads, type, videos_per_job",
        f"{path}, line 8: pgmr.strategy: 'fusion' is not allowed; choose one of video, object, vote, fuse, auto",
        f"{path}, line 9: pgmr.threshold: 2 is greater than the maximum of 1",
    ]
