"""Shared fixtures: small generated datasets and the real DAVIS samples in ../shared/data (helpers: tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import HD_FRAMES, HD_VIDEO, MODELS, shared_dataset, snakemake, tree_digest

#: unit-test modules that run a learned model or its upstream code (seconds to minutes each): the full tier
HEAVY_MODULES = {"test_sam2", "test_sam3", "test_cutie", "test_xmem", "test_livos", "test_tmo", "test_edgetam",
                 "test_upstream", "test_finetune", "test_tmo_finetune", "test_preflight"}


def pytest_collection_modifyitems(config, items):
    """Every test in one tier: ``quick`` (the unit tests of stseg's own code: the loop while editing, under two
    minutes on two cores) or ``full`` (whole workflows, learned models, upstream code; CI runs both)."""
    for item in items:
        module = item.path.stem
        heavy = item.get_closest_marker("slow") is not None or module in HEAVY_MODULES or "unit" not in item.path.parts
        item.add_marker(pytest.mark.full if heavy else pytest.mark.quick)


def pytest_terminal_summary(terminalreporter):
    """Each tier's count and time, from the runner's own durations (a report, not an assertion)."""
    spent: dict[str, list[float]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) in ("setup", "call", "teardown"):
                tier = "quick" if "quick" in getattr(report, "keywords", {}) else "full"
                spent.setdefault(tier, []).append(report.duration)
    for tier, durations in sorted(spent.items()):
        terminalreporter.write_line(f"tier {tier}: {sum(durations):.1f} s of test time")


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """Three demo videos at 320x180, 10 frames each, ground truth on every frame."""
    from stseg.demo import write_demo

    root = tmp_path_factory.mktemp("demo") / "data"
    write_demo(root, ["fast-ball", "twins", "crossing"], width=320, height=180, max_frames=10)
    return root


@pytest.fixture(scope="session")
def plain_run(small_demo, tmp_path_factory) -> Path:
    """A finished run of the small demo with the built-in models, every setting at its default (one job per model
    and video, one job per stage and video): ``<workdir>/results``.  Shared by the tests that compare another
    layout's bytes against it or read its masks; none of them writes into it."""
    work = tmp_path_factory.mktemp("plain")
    snakemake(work, {"dataset": {"root": str(small_demo)}, "results": str(work / "results"), "models": MODELS},
              "--cores", "2")
    return work


@pytest.fixture(autouse=True)
def demo_dataset_is_untouched(request):
    """Every test that uses the shared small demo leaves its files byte-identical (no workflow writes there)."""
    if "small_demo" not in request.fixturenames:
        yield
        return
    root = request.getfixturevalue("small_demo")
    before = tree_digest(root)
    yield
    assert tree_digest(root) == before, f"{request.node.name} changed the dataset under {root}"


@pytest.fixture(scope="session")
def hd_clip(tmp_path_factory) -> Path:
    """The first frames of a real two-object DAVIS video brought to 1280x720 (a DAVIS layout root): the upstream
    evaluation scripts bring the shorter side to 480, so their resizing is exercised."""
    from PIL import Image

    from stseg.masks import read_label_map, read_palette, write_label_map

    source = shared_dataset("davis-multiobj")
    data = tmp_path_factory.mktemp("hd") / "data"
    (data / "JPEGImages" / HD_VIDEO).mkdir(parents=True)
    (data / "Annotations" / HD_VIDEO).mkdir(parents=True)
    for t in range(HD_FRAMES):
        frame = Image.open(source / "JPEGImages" / HD_VIDEO / f"{t:05d}.jpg")
        frame.resize((1280, 720), Image.BICUBIC).save(data / "JPEGImages" / HD_VIDEO / f"{t:05d}.jpg", quality=95)
    first = source / "Annotations" / HD_VIDEO / "00000.png"
    labels = np.array(Image.fromarray(read_label_map(first)).resize((1280, 720), Image.NEAREST))
    write_label_map(data / "Annotations" / HD_VIDEO / "00000.png", labels, read_palette(first))
    return data
