"""Cutie, XMem, LiVOS and TMO: configuration errors (always) and the real drivers on the real upstream code.

The upstream tests need a checkout of each repository (for Cutie, rf-cutie from PyPI serves): set ``STSEG_CUTIE_REPO``,
``STSEG_XMEM_REPO``, ``STSEG_LIVOS_REPO``, ``STSEG_TMO_REPO`` (and, when the
upstream dependencies live in another environment, ``STSEG_<MODEL>_PYTHON`` to
its interpreter).  Each test saves a randomly initialised network (no download),
runs ``stseg infer`` with it, and compares the masks with those of the upstream
API called as the upstream's own scripts call it (tests/upstream_reference.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from test_workflow import MODELS, snakemake

from stseg.masks import read_label_map
from stseg.models.tmo import flow_image
from stseg.models.upstream import UPSTREAM, UpstreamError, installed_package, load_state, require_complete

torch = pytest.importorskip("torch", reason="torch is not installed (the external-model tests need it)")

EXTERNAL = ("cutie", "xmem", "livos", "tmo")


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


# --- always: configuration and loading errors ------------------------------------------------


@pytest.mark.parametrize("model", EXTERNAL)
def test_missing_checkout_or_checkpoint_is_a_clear_parse_time_error(model, small_demo, tmp_path, monkeypatch):
    monkeypatch.delenv(f"STSEG_{model.upper()}_REPO", raising=False)
    base = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results")}
    voters = {"flow": MODELS["flow"]}
    nothing = (f"no {model} checkpoint configured: set options.checkpoint" if installed_package(model)  # from PyPI
               else f"no upstream checkout of {model} configured (options.repo or $STSEG_{model.upper()}_REPO)")
    cases = [
        ({}, nothing),
        ({"repo": str(tmp_path / "nowhere")}, f"upstream checkout {tmp_path}/nowhere is missing or has no {UPSTREAM[model][2]}"),
    ]
    fake = tmp_path / "checkout"
    (fake / UPSTREAM[model][2]).parent.mkdir(parents=True, exist_ok=True)
    (fake / UPSTREAM[model][2]).write_text("")
    cases += [
        ({"repo": str(fake)}, f"no {model} checkpoint configured: set options.checkpoint"),
        ({"repo": str(fake), "checkpoint": str(tmp_path / "w.pth")}, f"{model} checkpoint {tmp_path}/w.pth not found"),
    ]
    for options, message in cases:
        config = {**base, "models": {**voters, "ext": {"type": model, "options": options}}}
        result = snakemake(tmp_path, config, "--dry-run", check=False)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert f"models.ext: {message}" in output, output[-3000:]
        assert UPSTREAM[model][1][:12] in output or "checkpoint" in message


def test_missing_upstream_dependency_names_the_environment(small_demo, tmp_path):
    """A checkout whose imports fail in this interpreter: the job says which environment to build."""
    fake = tmp_path / "TMO"
    fake.mkdir()
    (fake / "tmo.py").write_text("import a_dependency_of_tmo_that_is_not_installed\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "stseg.cli", "infer", "--model-type", "tmo", "--quiet",
         "--options", f'{{"repo": "{fake}", "random_init": true, "device": "cpu"}}',
         "--frames", str(small_demo / "JPEGImages" / "twins"),
         "--annotation", str(small_demo / "Annotations" / "twins" / "00000.png"), "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "STSEG_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode != 0
    assert "tmo: cannot import tmo from the upstream checkout" in result.stderr
    assert "envs/tmo.yaml" in result.stderr and "a_dependency_of_tmo_that_is_not_installed" in result.stderr
    assert not out.exists()


class Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to unpickle it."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checkpoints_are_loaded_without_running_code(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": Payload()}, path)
    with pytest.raises(UpstreamError, match="not a loadable cutie checkpoint"):
        load_state("cutie", path)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    with pytest.raises(UpstreamError, match="checkpoint not found"):
        load_state("cutie", tmp_path / "missing.pth")
    torch.save({"network": {"a": torch.ones(2)}}, tmp_path / "train.pth")
    assert list(load_state("xmem", tmp_path / "train.pth")) == ["a"]  # training checkpoints wrap the weights


def test_incomplete_checkpoint_is_refused():
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    state = {k: v for k, v in network.state_dict().items() if not k.startswith("1.")}
    with pytest.raises(UpstreamError, match=r"lacks 4 of the xmem network's parameters"):
        require_complete("xmem", network, state, "x.pth")
    require_complete("xmem", network, {k: v for k, v in network.state_dict().items() if "num_batches" not in k}, "x.pth")


def test_flow_image_encoding():
    still = flow_image(np.zeros((2, 2, 2), np.float32))
    assert (still == 255).all()  # no motion: white, as in RAFT's renderings
    right = np.zeros((1, 2, 2), np.float32)
    right[0, 1, 0] = 3.0  # one pixel moving right at full speed
    image = flow_image(right)
    assert image[0, 0].tolist() == [255, 255, 255]
    assert image[0, 1].tolist() == [255, 0, 0]  # hue 0 = red, fully saturated
    down = np.zeros((1, 1, 2), np.float32)
    down[0, 0, 1] = 1.0
    assert flow_image(down)[0, 0].tolist() == [127, 255, 0]  # +y (down): hue 90 degrees, chartreuse


# --- with an upstream checkout: the real driver against the upstream API -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", EXTERNAL)
def test_driver_matches_the_upstream_api(model, small_demo, tmp_path):
    repo, python = upstream(model)
    env = {"STSEG_CACHE": str(tmp_path / "cache")}
    checkpoint = tmp_path / f"{model}-random.pth"
    run_python(python, "-c", f"from stseg.models.{model} import write_random_checkpoint; "
               f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env=env)
    video = "twins"  # two objects
    frames = small_demo / "JPEGImages" / video
    annotation = small_demo / "Annotations" / video / "00000.png"
    options = {"repo": repo, "checkpoint": str(checkpoint), "device": "cpu"}
    if model != "tmo":
        options["size"] = -1  # the frames' own resolution, as the reference runs
    if model == "cutie":
        options["amp"] = False
    if model == "tmo":
        options["chunk"] = 9  # the reference runs the whole video (9 frames after the first) in one call
    import json

    def infer(options: dict, out: Path) -> None:
        result = run_python(python, "-m", "stseg.cli", "infer", "--model-type", model, "--quiet", "--options",
                            json.dumps(options), "--frames", str(frames), "--annotation", str(annotation),
                            "--out", str(out), env=env)
        assert f"{model}: 10 frames" in result.stdout

    out = tmp_path / "masks"
    infer(options, out)
    reference = tmp_path / "reference.npz"
    run_python(python, str(REPO / "tests" / "upstream_reference.py"), model, repo, str(checkpoint), str(frames),
               str(annotation), str(reference), env=env)
    expected = np.load(reference)
    first = read_label_map(annotation)
    assert (read_label_map(out / "00000.png") == first).all()
    mine = np.stack([read_label_map(out / f"{name}.png", allow_greyscale=True) for name in expected["names"]])
    assert mine.shape == expected["masks"].shape == (9, *first.shape)
    assert (mine == expected["masks"]).all(), f"{model}: {(mine != expected['masks']).sum()} pixels differ"
    if model == "tmo":
        assert set(np.unique(mine)) <= {0, 1}
        # streamed in chunks of 3: the same computation per frame; only the batch size of the convolutions
        # changes, which moves float results in the last bits (and random weights make near-ties flip)
        infer({**options, "chunk": 3}, tmp_path / "chunked")
        chunked = np.stack([read_label_map(tmp_path / "chunked" / f"{n}.png", allow_greyscale=True)
                            for n in expected["names"]])
        assert (chunked == mine).mean() > 0.99
    else:
        assert set(np.unique(mine)) <= {0, 1, 2}
        scores = (out / "scores.csv").read_text().splitlines()
        assert scores[0] == "frame,object,score" and len(scores) == 1 + 9 * 2


@pytest.mark.slow
def test_all_four_through_the_workflow(small_demo, tmp_path, monkeypatch):
    """The four external models as jobs of the workflow, each with its interpreter, TMO split into objects."""
    setups = {m: upstream(m) for m in EXTERNAL}
    env_cache = tmp_path / "cache"
    models = {"flow": MODELS["flow"], "appearance": MODELS["appearance"]}
    for model, (repo, python) in setups.items():
        checkpoint = tmp_path / f"{model}.pth"
        run_python(python, "-c", f"from stseg.models.{model} import write_random_checkpoint; "
                   f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env={"STSEG_CACHE": str(env_cache)})
        models[model] = {"type": model, "python": python, "gpus": 0,
                         "options": {"repo": repo, "checkpoint": str(checkpoint), "device": "cpu"}}
    config = {"dataset": {"root": str(small_demo)}, "results": str(tmp_path / "results"), "models": models,
              "pgmr": {"models": ["flow", "appearance", "tmo"]}}
    monkeypatch.setenv("STSEG_CACHE", str(env_cache))
    snakemake(tmp_path, config, "--cores", "2")
    results = tmp_path / "results"
    for model in EXTERNAL:
        for video in ("crossing", "fast-ball", "twins"):
            assert len(list((results / "masks" / model / video).glob("*.png"))) == 10
    assert (results / "foreground" / "tmo" / "twins").is_dir()
    summary = (results / "summary.csv").read_text()
    assert all(f",{m}," in summary for m in EXTERNAL)


# --- with an upstream checkout: the driver at its defaults against the upstream evaluation script itself ----------

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


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(EVAL_SCRIPTS))
def test_defaults_give_the_masks_of_the_upstream_evaluation_script(model, hd_clip, tmp_path):
    """stseg's job at its defaults equals the upstream's own evaluation script at its defaults (run unmodified on
    the CPU by tests/run_on_cpu.py), on every frame after the first of a real video at 1280x720, one thread."""
    import json

    from conftest import HD_FRAMES, HD_VIDEO

    repo, python = upstream(model)
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "STSEG_CACHE": str(tmp_path / "cache")}
    checkpoint = tmp_path / f"{model}-random.pth"
    run_python(python, "-c", f"from stseg.models.{model} import write_random_checkpoint; "
               f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env=one_thread)
    script, arguments, masks_of = EVAL_SCRIPTS[model]
    out = tmp_path / "upstream"
    run_python(python, str(REPO / "tests" / "run_on_cpu.py"), str(Path(repo) / script), *arguments(hd_clip, checkpoint, out),
               env={**one_thread, "PYTHONPATH": f"{repo}{os.pathsep}{REPO}"})
    theirs = masks_of(out, HD_VIDEO)
    ours = tmp_path / "stseg"
    run_python(python, "-m", "stseg.cli", "infer", "--model-type", model, "--quiet", "--options",
               json.dumps({"repo": repo, "checkpoint": str(checkpoint), "device": "cpu"}),
               "--frames", str(hd_clip / "JPEGImages" / HD_VIDEO), "--annotation",
               str(hd_clip / "Annotations" / HD_VIDEO / "00000.png"), "--out", str(ours), env=one_thread)
    for t in range(1, HD_FRAMES):
        mine, reference = read_label_map(ours / f"{t:05d}.png"), read_label_map(theirs / f"{t:05d}.png", allow_greyscale=True)
        assert mine.shape == reference.shape == (720, 1280)
        assert int((mine != reference).sum()) == 0, f"{model} frame {t}: {(mine != reference).sum()} pixels differ"


#: TMO's run.py has no options: its test stage, DAVIS part, as its __main__ runs it (model built, weights loaded
#: from weights/TMO_rn101.pth, no_grad, test_davis), from a folder whose ../DB/VOS/DAVIS holds the data
TMO_TEST_STAGE = """
import runpy, sys, torch
from stseg.models.upstream import TORCHVISION_RESNET101, cuda_calls_on_cpu, offline_backbones
cuda_calls_on_cpu(); offline_backbones(TORCHVISION_RESNET101)
sys.path.insert(0, {repo!r}); run = runpy.run_path({repo!r} + "/run.py", run_name="tmo_run")
model = run["TMO"]("rn101", False).eval()
model.load_state_dict(torch.load("weights/TMO_rn101.pth", map_location="cpu"))
with torch.no_grad():
    run["test_davis"](model)
"""


@pytest.mark.slow
def test_tmo_gives_the_masks_of_its_run_script(tmp_path):
    """TMO with a folder of flow images equals its own run.py test stage (DAVIS 2016 layout, the same flow
    images) on a real video, every frame after the first, one thread."""
    import json
    import shutil

    from conftest import shared_dataset
    from PIL import Image

    from stseg.models.tmo import opencv_flows

    repo, python = upstream("tmo")
    source, video, frames = shared_dataset("davis-multiobj"), "horsejump-high", 9
    one_thread = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "STSEG_CACHE": str(tmp_path / "cache")}
    davis = tmp_path / "DB" / "VOS" / "DAVIS"
    for sub in ("JPEGImages/480p", "JPEGFlows/480p", "Annotations/480p"):
        (davis / sub / video).mkdir(parents=True)
    for t in range(frames):
        shutil.copy(source / "JPEGImages" / video / f"{t:05d}.jpg", davis / "JPEGImages/480p" / video)
        shutil.copy(source / "Annotations_union" / video / f"{t:05d}.png", davis / "Annotations/480p" / video)
    files = sorted((davis / "JPEGImages/480p" / video).glob("*.jpg"))
    for path, flow in zip(files, opencv_flows(files)):  # any flow images: both sides read the same files
        Image.fromarray(flow).save(davis / "JPEGFlows/480p" / video / f"{path.stem}.jpg", quality=95)
    (davis / "ImageSets" / "2016").mkdir(parents=True)
    (davis / "ImageSets" / "2016" / "val.txt").write_text(video + "\n")
    work = tmp_path / "work"
    (work / "weights").mkdir(parents=True)
    checkpoint = work / "weights" / "TMO_rn101.pth"
    run_python(python, "-c", f"from stseg.models.tmo import write_random_checkpoint; "
               f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env=one_thread)
    run_python(python, "-c", TMO_TEST_STAGE.format(repo=repo), cwd=work, env=one_thread)
    theirs = work / "outputs" / "DAVIS16_val" / video
    ours = tmp_path / "stseg"
    options = {"repo": repo, "checkpoint": str(checkpoint), "device": "cpu", "flow": str(davis / "JPEGFlows/480p")}
    run_python(python, "-m", "stseg.cli", "infer", "--model-type", "tmo", "--quiet", "--options", json.dumps(options),
               "--frames", str(davis / "JPEGImages/480p" / video), "--annotation",
               str(source / "Annotations" / video / "00000.png"), "--out", str(ours), env=one_thread)
    for t in range(1, frames):
        mine = read_label_map(ours / f"{t:05d}.png", allow_greyscale=True) > 0
        reference = read_label_map(theirs / f"{t:05d}.png", allow_greyscale=True) > 0
        assert int((mine != reference).sum()) == 0, f"tmo frame {t}: {(mine != reference).sum()} pixels differ"
    assert mine.any() and not mine.all()
