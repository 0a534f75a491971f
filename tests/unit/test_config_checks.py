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
