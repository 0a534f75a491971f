"""Every benchmark command the README shows runs as written (here at small sizes: the README's figures come from
the same commands at their defaults)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow


def bench(name: str, *args: str, cwd=None) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *args], capture_output=True, text=True,
                            cwd=cwd or REPO, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def finished(small_demo, plain_run):
    """A finished run of the small demo, as the README's `snakemake --cores 2` leaves one (read only)."""
    return plain_run, small_demo


def test_bench_models(small_demo):
    out = bench("bench_models.py", "--root", str(small_demo), "--video", "twins", "--repeat", "1")
    assert "I/O floor (decode JPEG + write PNG)" in out
    assert all(f"\n  {model} " in out for model in ("copy", "flow", "global", "appearance"))


def test_bench_models_with_the_learned_trackers(small_demo):
    """``--trackers``: SAM 2.1 tiny here, EdgeTAM too when its environment is named (STSEG_EDGETAM_PYTHON)."""
    pytest.importorskip("sam2", reason="sam2 is not installed")
    edgetam = os.environ.get("STSEG_EDGETAM_PYTHON")
    out = bench("bench_models.py", "--root", str(small_demo), "--video", "fast-ball", "--repeat", "1", "--trackers",
                "--tracker-frames", "2", *(["--edgetam-python", edgetam] if edgetam else []))
    assert "learned trackers, random weights, 2 frames, 1 objects" in out and "sam2 tiny" in out
    assert ("x sam2 tiny)" in out) if edgetam else ("edgetam: no --edgetam-python given" in out)


def test_bench_metrics_and_the_pgmr_ablation_on_a_finished_run(finished):
    work, data = finished
    args = ["--gt", str(data / "Annotations"), "--pred", str(work / "results" / "masks" / "flow"), "--workers", "1",
            "--repeat", "1"]
    if os.environ.get("STSEG_DAVIS_EVAL_REPO"):
        args += ["--official", os.environ["STSEG_DAVIS_EVAL_REPO"]]
    out = bench("bench_metrics.py", *args)
    assert "decode PNGs only (floor)" in out and "stseg" in out
    out = bench("pgmr_ablation.py", "--root", str(data), "--results", str(work / "results"), "--workers", "1")
    assert "recovered" in out


def test_bench_scale(tmp_path):
    out = bench("bench_scale.py", "--videos", "6", "--run-videos", "2", "--layouts", "1x1", "2x2", "--noop-max", "6")
    lines = {layout: next(line for line in out.splitlines() if f"6 videos,  {layout}" in line) for layout in ("1x1", "2x2")}
    assert all("job step" in line and "no-op rerun" in line for line in lines.values()) and "overhead per job" in out
    jobs = {layout: int(line.split(" jobs:")[0].split()[-1]) for layout, line in lines.items()}
    assert jobs["2x2"] < jobs["1x1"]  # the chunked layout: fewer jobs


def test_bench_stages():
    out = bench("bench_stages.py", "--frames", "4", "--width", "320", "--height", "180", "--models", "3", "--repeat", "1")
    assert "floor (decode every model PNG once)" in out and "worst stage:" in out
    ratios = json.loads(out.strip().splitlines()[-1])
    assert set(ratios) == {"fuse", "pseudolabel", "score", "select", "select, measured"} and all(v > 0 for v in ratios.values())


def test_bench_selection_on_the_demo(tmp_path):
    out = bench("bench_selection.py", "--work", str(tmp_path / "work"), "--shared", str(tmp_path / "none"),
                "--demo-frames", "6", "--demo-videos", "crossing", "fast-ball", "twins",
                "--variants", "pick per video", "fuse (default)", "auto, margin 0.25")
    assert "== pooled J&F per set and voter configuration" in out and "sorted by the worst case" in out
    row = next(line for line in out.splitlines() if line.startswith("demo builtins"))
    values = [float(x) for x in row.split()[2:] if x.replace(".", "").isdigit()]  # the best model's name left out
    best, oracle_video, oracle_frame, *strategies = values
    assert len(strategies) == 3 and all(0 < x <= 1 for x in values) and oracle_frame >= oracle_video >= best


def test_bench_sam2_memory_and_batching():
    pytest.importorskip("sam2", reason="sam2 is not installed")
    out = bench("bench_sam2_memory.py", "--lengths", "4", "8")
    assert "unmodified MB" in out and "\n       8 " in out
    out = bench("bench_batching.py", "--videos", "2", "--frames", "3")
    assert "masks byte-identical: True" in out and "batch of 2" in out


def test_bench_validation():
    out = bench("bench_validation.py", "--videos", "1", "--frames", "3")
    assert "first parse (full decode)" in out and "cached re-parse" in out and "projection to MOSE valid" in out


def test_bench_probabilities():
    from helpers import shared_dataset

    root = shared_dataset("davis-multiobj-extra")  # skips with its message when the shared data is absent
    out = bench("bench_probabilities.py", "--frames", "2", "--shared", str(root.parent))
    assert "trained-model proxy" in out and "GiB per model" in out


def test_bench_sizing():
    """Each model's job as the workflow runs it, with its job record; a row per model, GPU figures marked projected."""
    from helpers import shared_dataset

    root = shared_dataset("davis-fullgt2")  # skips with its message when the shared data is absent
    out = bench("bench_sizing.py", "--frames", "2", "--models", "copy", "appearance", "--shared", str(root.parent))
    assert "a process with torch imported:" in out and "GPU MB (proj.)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"copy", "appearance"}, out
    assert float(rows["appearance"][1]) > 0 and float(rows["appearance"][3]) > 50  # s/frame, peak host MB
