"""A model run from its own environment: exactly the path an external model (Cutie, XMem, LiVOS, TMO) takes."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    MODELS,
    snakemake,
)

pytestmark = pytest.mark.slow


def make_venv(where: Path) -> Path:
    """A second, separate virtual environment that sees the installed packages but not stseg.

    The workflow makes this checkout's ``stseg`` importable in it (``PYTHONPATH``), as for every model
    run in its own environment.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    target = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    packages = list(site.getsitepackages())
    (target / "stseg-test.pth").write_text("".join(p + "\n" for p in packages))
    return python


def test_builtin_model_runs_in_its_own_environment(small_demo, tmp_path):
    python = make_venv(tmp_path / "model-env")
    assert Path(subprocess.run([str(python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                               check=True).stdout.strip()) == tmp_path / "model-env"
    alone = subprocess.run([str(python), "-c", "import stseg"], capture_output=True, text=True, cwd=tmp_path)
    assert "No module named 'stseg'" in alone.stderr  # only the workflow's PYTHONPATH brings it
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = {
        "dataset": {"root": str(data)},
        "results": str(workdir / "results"),
        "models": {"flow": MODELS["flow"], "flow-own-env": {**MODELS["flow"], "python": str(python)},
                   "appearance": MODELS["appearance"]},
    }
    snakemake(workdir, config, "--cores", "2")
    results = workdir / "results"
    for video in ("crossing", "fast-ball", "twins"):
        log = (results / "logs" / "infer" / "flow-own-env" / f"{video}.log").read_text()
        assert f"with {python}" in log
        mine = sorted((results / "masks" / "flow-own-env" / video).glob("*.png"))
        same = sorted((results / "masks" / "flow" / video).glob("*.png"))
        assert len(mine) == 10 and [p.read_bytes() for p in mine] == [p.read_bytes() for p in same]
    assert "flow-own-env" in (results / "summary.csv").read_text()


def test_missing_environment_is_a_clear_error(small_demo, tmp_path):
    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results"),
              "models": {"cutie": {"type": "flow", "python": str(tmp_path / "no-env" / "bin" / "python")}}}
    result = snakemake(tmp_path, config, "--dry-run", check=False)
    assert result.returncode != 0
    assert f"models.cutie.python: {tmp_path}/no-env/bin/python is not an executable Python" in result.stdout + result.stderr
