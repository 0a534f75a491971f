"""The bytes every job layout gives on a real set: stored, so that a change to the workflow's layer is checked
against the outputs it gave before.

Four layouts (per-video or batched inference x per-video or chunked light stages: ``inference.videos_per_job`` and
``stages.videos_per_job`` 1 or 4) run the built-in models on ``davis-fullgt`` (two real DAVIS videos); the digests
of every model's masks, the final masks, the summary tables and the zip are compared.
``python tests/layout_digests.py`` writes them to ``tests/data/layout_digests.json`` (run it only when the outputs
are meant to change: a new method, a new model default).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STORED = HERE / "data" / "layout_digests.json"
LAYOUTS = ((1, 1), (4, 1), (1, 4), (4, 4))
MODELS = {"copy": {"type": "copy"}, "flow": {"type": "flow", "options": {"scale": 1.0, "preset": "medium"}},
          "global": {"type": "global", "options": {"transform": "homography"}}, "appearance": {"type": "appearance"}}


def digest(results: Path) -> dict[str, str]:
    found = {}
    for stage in ("masks", "final"):
        for path in sorted((results / stage).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                found[str(path.relative_to(results))] = hashlib.sha256(path.read_bytes()).hexdigest()
    for name in ("summary.csv", "summary_overall.csv", "submission.zip"):
        found[name] = hashlib.sha256((results / name).read_bytes()).hexdigest()
    return found


def run_layout(root: Path, work: Path, inference: int, stages: int) -> dict[str, str]:
    """One layout's run through Snakemake's CLI; the digests of its outputs."""
    work.mkdir(parents=True, exist_ok=True)
    config = {"dataset": {"root": str(root)}, "results": str(work / "results"), "models": MODELS,
              "pgmr": {"models": ["flow", "global", "appearance"]},
              "inference": {"videos_per_job": inference}, "stages": {"videos_per_job": stages}}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--configfile",
                             str(work / "config.yaml"), "--cores", "2", "--quiet"], cwd=work, capture_output=True,
                            text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    return digest(work / "results")


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "davis-fullgt"
    with tempfile.TemporaryDirectory() as tmp:
        found = {f"{i}x{s}": run_layout(root, Path(tmp) / f"{i}x{s}", i, s) for i, s in LAYOUTS}
    first = found["1x1"]
    assert all(d == first for d in found.values()), "the layouts disagree: nothing stored"
    STORED.write_text(json.dumps(first, indent=1, sort_keys=True) + "\n")
    print(f"{STORED}: {len(first)} digests")


if __name__ == "__main__":
    main()
