"""stseg.models.upstream, what the Cutie, XMem, LiVOS and TMO drivers share: configuration errors and safe
checkpoint loading (always), and the real drivers on the real upstream code.

The upstream tests need a checkout of each repository (for Cutie, rf-cutie from PyPI serves): set ``STSEG_CUTIE_REPO``,
``STSEG_XMEM_REPO``, ``STSEG_LIVOS_REPO``, ``STSEG_TMO_REPO`` (and, when the
upstream dependencies live in another environment, ``STSEG_<MODEL>_PYTHON`` to
its interpreter).  Each test saves a randomly initialised network (no download),
runs ``stseg infer`` with it, and compares the masks with those of the upstream
API called as the upstream's own scripts call it (tests/upstream_reference.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    MODELS,
    REPO,
    plant,
    run_python,
    snakemake,
    tree_digest,
    upstream,
)

from stseg.masks import read_label_map
from stseg.models.upstream import UPSTREAM, UpstreamError, installed_package, load_state, require_complete

torch = pytest.importorskip("torch", reason="torch is not installed (the external-model tests need it)")


EXTERNAL = ("cutie", "xmem", "livos", "tmo")


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
        if message.startswith(("no upstream checkout", "upstream checkout")):  # the fix names the tested commit
            assert UPSTREAM[model][1][:12] in output


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
    """The four external models as jobs of the workflow, each with its interpreter, TMO split into objects; all
    three videos in one batch job per model (one network): the same bytes as a job per video."""
    setups = {m: upstream(m) for m in EXTERNAL}
    env_cache = tmp_path / "cache"
    models = {"flow": MODELS["flow"], "appearance": MODELS["appearance"]}
    for model, (repo, python) in setups.items():
        checkpoint = tmp_path / f"{model}.pth"
        run_python(python, "-c", f"from stseg.models.{model} import write_random_checkpoint; "
                   f"write_random_checkpoint({repo!r}, {str(checkpoint)!r})", env={"STSEG_CACHE": str(env_cache)})
        models[model] = {"type": model, "python": python, "gpus": 0, "videos_per_job": 3,
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
    for model, (_, python) in setups.items():
        for video in ("crossing", "twins"):  # the first and the last video of the batch, each as its own job
            out = tmp_path / "alone" / model / video
            run_python(python, "-m", "stseg.cli", "infer", "--model-type", model, "--quiet", "--options",
                       json.dumps(models[model]["options"]), "--frames", str(small_demo / "JPEGImages" / video),
                       "--annotation", str(small_demo / "Annotations" / video / "00000.png"), "--out", str(out),
                       env={"STSEG_CACHE": str(env_cache), "OMP_NUM_THREADS": "1"})  # as Snakemake runs a 1-thread job
            made = results / ("foreground" if model == "tmo" else "masks") / model / video
            assert tree_digest(out) == {k: v for k, v in tree_digest(made).items() if k != ".snakemake_timestamp"}, (model, video)


def test_a_planted_backbone_in_the_cache_is_rebuilt_not_run(tmp_path, capsys):
    pytest.importorskip("torchvision")
    from stseg.models.upstream import offline_backbones

    marker = tmp_path / "pwned"
    target = tmp_path / "cache" / "backbones" / "checkpoints" / "resnet18-test.pth"
    plant(target, marker)
    root = offline_backbones({"resnet18-test.pth": "resnet18"}, cache=tmp_path / "cache")
    assert not marker.exists()
    assert "is not a plain state dict (UnpicklingError); rebuilding it" in capsys.readouterr().err
    state = torch.load(target, weights_only=True)  # now the random-weight backbone
    assert "conv1.weight" in state and root == tmp_path / "cache" / "backbones"
