"""stseg used as a Snakemake module of another workflow (README: "Use stseg inside your own workflow"): the outer
workflow runs the demo through it, with the bytes of a plain run, and builds the report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import MODELS, REPO, results_digest

pytestmark = pytest.mark.slow

OUTER = """configfile: "outer.yaml"


module stseg:
    snakefile:
        "{snakefile}"
    config:
        config["stseg"]


use rule * from stseg as stseg_*


rule all:
    input:
        rules.stseg_all.input,
    default_target: True
"""


def test_the_demo_through_the_module_gives_a_plain_runs_bytes(small_demo, plain_run, tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "Snakefile").write_text(OUTER.format(snakefile=REPO / "Snakefile"))
    config = {"dataset": {"root": str(small_demo)}, "results": str(lab / "stseg-results"), "models": MODELS}
    (lab / "outer.yaml").write_text(yaml.safe_dump({"stseg": config}))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=lab, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert results_digest(lab / "stseg-results") == results_digest(plain_run / "results")
    report = subprocess.run([sys.executable, "-m", "snakemake", "--report", str(lab / "report.html")], cwd=lab,
                            env=env, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "did it work?" in (lab / "report.html").read_text(errors="replace")
