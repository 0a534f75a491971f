"""What the tests share: paths, the Snakefile run through Snakemake's CLI, the upstream checkouts and scripts.

Fixtures live in conftest.py; everything a test module imports by name lives here.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from stseg.masks import read_label_map
from stseg.models.upstream import UPSTREAM, installed_package

REPO = Path(__file__).resolve().parents[1]


SHARED_DATA = Path(os.environ.get("STSEG_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_dataset(name: str) -> Path:
    """A real dataset from ../shared/data, or skip with the reason."""
    path = SHARED_DATA / name
    if not (path / "JPEGImages").is_dir():
        pytest.skip(f"real DAVIS sample {path} is absent (set STSEG_SHARED_DATA to the folder holding {name}/)")
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


#: the real video, and its length, of the model-equivalence tests at a resolution that makes the models resize
HD_VIDEO, HD_FRAMES = "horsejump-high", 8


def damage_png(png: Path) -> bytes:
    """The PNG with bytes of its image data flipped: its header reads, decoding it fails."""
    good = png.read_bytes()
    bad = bytearray(good)
    at = bad.index(b"IDAT") + 8
    bad[at:at + 4] = bytes(b ^ 0xFF for b in bad[at:at + 4])
    png.write_bytes(bytes(bad))
    return good


SNAKEMAKE = [sys.executable, "-m", "snakemake"]


MODELS = {
    "copy": {"type": "copy"},
    "flow": {"type": "flow", "options": {"scale": 0.5, "preset": "fast"}},
    "global": {"type": "global"},
    "appearance": {"type": "appearance"},
}


def snakemake(workdir: Path, config: dict, *args: str, check: bool = True, python: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Snakemake on the workflow with ``config`` in ``workdir`` (run by ``python``, e.g. :func:`stand_in_stseg`'s,
    with ``env`` added to the environment)."""
    config_file = workdir / "test-config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    python = python or sys.executable
    env = {**os.environ, **(env or {}), "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [python, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--configfile", str(config_file), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run."""
    counts = {}
    section = output.split("Job stats:")[1] if "Job stats:" in output else ""
    for line in section.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
        if line.strip().startswith("total"):
            break
    return counts


def upstream(model: str) -> tuple[str, str]:
    """(checkout, interpreter) for ``model``, or skip with the reason."""
    repo = os.environ.get(f"STSEG_{model.upper()}_REPO") or installed_package(model)  # Cutie: rf-cutie from PyPI
    if not repo:
        pytest.skip(f"no {model} checkout: set STSEG_{model.upper()}_REPO to a clone of {UPSTREAM[model][0]} "
                    f"(tested at {UPSTREAM[model][1][:12]}) to run the real driver")
    return str(repo), os.environ.get(f"STSEG_{model.upper()}_PYTHON", sys.executable)


def run_python(python: str, *args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    result = subprocess.run([python, *args], capture_output=True, text=True, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


#: the evaluation script of each checkout and its arguments at the script's defaults (MOSE settings where it has
#: them), for a DAVIS-layout ``data`` root, a checkpoint and an output folder; where the masks land
EVAL_SCRIPTS = {
    "xmem": ("eval.py", lambda data, weights, out: ["--model", str(weights), "--dataset", "G", "--generic_path", str(data),
                                                    "--output", str(out)], lambda out, video: out / video),
    "livos": ("livos/eval.py", lambda data, weights, out: ["dataset=mose-val", f"image_directory={data / 'JPEGImages'}",
                                                           f"mask_directory={data / 'Annotations'}", f"weights={weights}",
                                                           f"output_dir={out}", f"hydra.run.dir={out / 'hydra'}"],
              lambda out, video: out / "Annotations" / video),
}


#: how the evaluation script also saves its probabilities (``floor(255 P)``, background first, one hickle file per
#: frame under <output>/Scores/<video>, with backward.hkl: object id -> channel): options of tests/run_on_cpu.py,
#: the script's own arguments, and where the masks then land. LiVOS's eval.py has no working path: it reads
#: ``save_scores`` but never hands it to its ResultSaver, whose backward mapping then raises at the last frame
#: (``'int' object has no attribute 'id'``, LiVOS 8c26cb0): test_livos.py compares with its InferenceCore.
SAVE_SCORES = {
    "xmem": ((), ("--save_scores",), lambda out, video: out / "Annotations" / video),
}


def assert_equals_eval_script(model: str, hd_clip: Path, tmp_path: Path, scores: bool = False) -> None:
    """stseg's job at its defaults equals the upstream's own evaluation script at its defaults (run unmodified on
    the CPU by tests/run_on_cpu.py), on every frame after the first of a real video at 1280x720, one thread.

    ``scores`` (XMem): the script also saves its probabilities (``SAVE_SCORES``; hickle must be installed
    beside the checkout) and stseg's job keeps its own (``probabilities: true``, ``round(255 P)``): every object's
    kept map is the script's, up to that rounding."""
    import json

    repo, python = upstream(model)
    if scores and subprocess.run([python, "-c", "import hickle"], capture_output=True).returncode != 0:
        pytest.skip(f"{python} has no hickle ({model}'s evaluation script saves its scores with it): pip install hickle")
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "STSEG_CACHE": str(tmp_path / "cache")}
    checkpoint = tmp_path / f"{model}-random.pth"
    run_python(python, "-c", f"from stseg.models.{model} import write_random_checkpoint; "
               f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env=one_thread)
    script, arguments, masks_of = EVAL_SCRIPTS[model]
    out = tmp_path / "upstream"
    wrapper_options, script_options, scored_masks_of = SAVE_SCORES[model] if scores else ((), (), masks_of)
    run_python(python, str(REPO / "tests" / "run_on_cpu.py"), *wrapper_options, str(Path(repo) / script),
               *arguments(hd_clip, checkpoint, out), *script_options,
               env={**one_thread, "PYTHONPATH": f"{repo}{os.pathsep}{REPO}"})
    theirs = scored_masks_of(out, HD_VIDEO)
    ours = tmp_path / "stseg"
    run_python(python, "-m", "stseg.cli", "infer", "--model-type", model, "--quiet", "--options",
               json.dumps({"repo": repo, "checkpoint": str(checkpoint), "device": "cpu", "probabilities": scores}),
               "--frames", str(hd_clip / "JPEGImages" / HD_VIDEO), "--annotation",
               str(hd_clip / "Annotations" / HD_VIDEO / "00000.png"), "--out", str(ours), env=one_thread)
    for t in range(1, HD_FRAMES):
        mine, reference = read_label_map(ours / f"{t:05d}.png"), read_label_map(theirs / f"{t:05d}.png", allow_greyscale=True)
        assert mine.shape == reference.shape == (720, 1280)
        assert int((mine != reference).sum()) == 0, f"{model} frame {t}: {(mine != reference).sum()} pixels differ"
    if scores:
        assert_kept_probabilities_are_the_scripts(python, out / "Scores" / HD_VIDEO, ours / "probs")


def assert_kept_probabilities_are_the_scripts(python: str, scores: Path, kept: Path) -> None:
    """Each object's kept ``round(255 P)`` is the script's ``floor(255 P)`` or one more, and equals it where the
    script's value is 255 (hickle is read by the checkout's interpreter)."""
    from stseg.probabilities import read_probabilities

    exported = scores.parent.parent / "scores.npz"
    run_python(python, "-c", "import sys, hickle, numpy as np, pathlib; d = pathlib.Path(sys.argv[1]); "
               "np.savez(sys.argv[2], remap=np.array(sorted(hickle.load(str(d / 'backward.hkl')).items())), "
               "**{p.stem: hickle.load(str(p)) for p in d.glob('0*.hkl')})", str(scores), str(exported))
    with np.load(exported) as archive:
        channel = {int(label): int(index) for label, index in archive["remap"]}
        for t in range(1, HD_FRAMES):
            theirs = archive[f"{t:05d}"]
            mine = read_probabilities(kept / f"{t:05d}.npz", theirs.shape[1:])
            assert sorted(mine) == sorted(channel), t
            for obj, index in channel.items():
                step = np.rint(mine[obj] * 255).astype(np.int16) - theirs[index].astype(np.int16)
                assert step.min() >= 0 and step.max() <= 1, (t, obj, int(step.min()), int(step.max()))
                assert not step[theirs[index] == 255].any(), (t, obj)  # P = 1 exactly


STAGES = ("masks", "boxes", "fused", "pseudo", "scores", "selection", "final")


def results_digest(results: Path) -> dict[str, str]:
    digest = {}
    for stage in STAGES:
        digest.update({f"{stage}/{k}": v for k, v in tree_digest(results / stage).items()})
    for name in ("summary.csv", "summary_overall.csv", "summary.txt", "submission.zip"):
        top = tree_digest(results)
        if name in top:
            digest[name] = top[name]
    return digest


class Planted:
    """Unpickling this creates the file named by ``marker`` (harmless stand-in for code an attacker would run)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(Planted(str(marker)), handle)


STAND_IN = """#!/bin/sh
# stands in for stseg on PATH: one step (select unless $STSEG_TEST_STEP names another whose video is its second
# argument) hangs (to be killed), fails, or waits for the test's word, as the test asks (for every video, or for
# $STSEG_TEST_VIDEO's only)
if [ "$1" = "${{STSEG_TEST_STEP:-select}}" ] && {{ [ -z "$STSEG_TEST_VIDEO" ] || [ "$3" = "$STSEG_TEST_VIDEO" ]; }}; then
  case "$STSEG_TEST_MODE" in
    hang) touch "$STSEG_TEST_MARKER"; sleep 600;;
    fail) echo "stseg $1: error: a failure the test made" >&2; exit 1;;
    wait) touch "$STSEG_TEST_MARKER"; while [ ! -e "$STSEG_TEST_RELEASE" ]; do sleep 0.1; done;;
  esac
fi
exec {real} "$@"
"""


def stand_in_stseg(venv: Path) -> str:
    """A Python whose bin folder holds a stand-in ``stseg`` (the workflow puts its interpreter's bin folder first on
    PATH): its ``select`` step (or ``$STSEG_TEST_STEP``: ``score``) hangs (``STSEG_TEST_MODE=hang``, touching
    ``$STSEG_TEST_MARKER``), fails (``fail``) or waits, marker touched, until ``$STSEG_TEST_RELEASE`` exists and
    then runs (``wait``), for every video or for ``$STSEG_TEST_VIDEO``'s only; every other step is the real one.  Returns the
    Python to run Snakemake with."""
    import site
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (purelib / "stseg-test.pth").write_text("\n".join([*site.getsitepackages(), str(REPO)]) + "\n")
    wrapper = venv / "bin" / "stseg"
    wrapper.write_text(STAND_IN.format(real=Path(sys.executable).parent / "stseg"))
    wrapper.chmod(0o755)
    return str(venv / "bin" / "python")
