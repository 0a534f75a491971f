"""The stseg command: expected errors as one line (status 2), anything else with its traceback."""

from __future__ import annotations

import subprocess
import sys

from helpers import (
    REPO,
)


def stseg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stseg.cli", *args], capture_output=True, text=True, cwd=REPO)


def test_an_expected_error_is_one_line_without_a_traceback(tmp_path):
    result = stseg("evaluate", "--gt", str(tmp_path / "nowhere"), "--pred", str(tmp_path))
    assert result.returncode == 2
    expected = f"{tmp_path / 'nowhere'}: no such folder (--gt); give a folder of <video>/<frame>.png."
    assert result.stderr.strip() == f"stseg evaluate: error: {expected}"


def test_an_internal_error_keeps_its_traceback(tmp_path):
    """Settings JSON is written by the workflow: a wrong one is a bug, not a user error."""
    result = stseg("fuse", "--masks", f"m={tmp_path}", "--annotation", str(tmp_path / "a.png"), "--settings", '{"x": 1}',
                   "--out", str(tmp_path / "f.csv"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "FuseSettings settings need exactly ['box_weighting', 'min_votes']" in result.stderr


def test_models_lists_every_type():
    result = stseg("models")
    assert result.returncode == 0
    for name in ("copy", "flow", "global", "appearance", "precomputed", "sam2", "cutie", "xmem", "livos", "tmo"):
        assert any(line.startswith(name + " ") for line in result.stdout.splitlines()), name


def test_models_says_which_are_ready():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "stseg.cli", "models"], capture_output=True, text=True, check=True)
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "ready (built in)" in lines["flow"] and "ready (built in)" in lines["copy"]
    import importlib.util

    assert ("ready (sam2 installed)" in lines["sam2"]) == (importlib.util.find_spec("sam2") is not None)
    from stseg.models.upstream import installed_package

    assert ("ready (installed from PyPI)" in lines["cutie"]) == (installed_package("cutie") is not None)
    assert "needs options.repo or $STSEG_XMEM_REPO" in lines["xmem"] or "checkout $STSEG_XMEM_REPO" in lines["xmem"]


def test_help_lists_the_users_commands_apart_from_the_workflow_steps():
    from stseg.cli import WORKFLOW_STEPS, build_parser

    parser = build_parser()
    text = parser.format_help()
    commands = text.split("commands:")[1].split("workflow steps")[0]
    users = {"demo", "validate", "preflight", "weights", "models", "evaluate"}
    assert all(name in commands for name in users)
    assert not any(f"    {step} " in commands for step in WORKFLOW_STEPS)
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == set(WORKFLOW_STEPS) | users
    assert all(step in text.split("workflow steps")[1].replace("\n", " ").replace("- ", "-") for step in WORKFLOW_STEPS)


def test_validate_names_the_folder_it_was_given_not_a_config_key(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stseg.cli", "validate", str(tmp_path / "nowhere")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"stseg validate: error: {tmp_path / 'nowhere'}: no such dataset folder. Give "
                                     "`stseg validate` the folder that holds JPEGImages/ and Annotations/ (e.g. stseg "
                                     "validate data/demo).")
    assert "dataset.root" not in result.stderr


def test_version_and_every_user_argument_says_what_it_is():
    from stseg.cli import WORKFLOW_STEPS, build_parser

    result = subprocess.run([sys.executable, "-m", "stseg.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("stseg ")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        if name in WORKFLOW_STEPS:
            continue
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"stseg {name} {action.option_strings or action.dest}: no help"
