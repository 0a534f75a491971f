"""Every row of the README's bad-input table, through the workflow: a clear error, and nothing lost.

A finished run on the small demo is copied for each case; the case adds a broken
video (or breaks the config) and reruns Snakemake.  Each must exit non-zero
with a message naming the file and the fix, and leave every result of the
other videos byte-identical.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import (
    MODELS,
    REPO,
    SNAKEMAKE,
    job_counts,
    snakemake,
    stand_in_stseg,
    tree_digest,
)
from PIL import Image

from stseg.masks import write_label_map

pytestmark = pytest.mark.slow


BASE_CONFIG = {
    "dataset": {"root": "../data"},
    "results": "results",
    "models": {"flow": MODELS["flow"], "appearance": MODELS["appearance"]},
}


@pytest.fixture(scope="module")
def finished(small_demo, tmp_path_factory) -> Path:
    """A complete run: <base>/data (the demo) and <base>/work (results with relative paths)."""
    base = tmp_path_factory.mktemp("finished")
    shutil.copytree(small_demo, base / "data")
    (base / "work").mkdir()
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    return base


def results_digest(work: Path) -> dict[str, str]:
    """Every result file (logs, benchmarks and Snakemake's own state left out)."""
    return {k: v for k, v in tree_digest(work / "results").items()
            if not k.startswith(("logs/", "benchmarks/", ".stseg/"))}


def copy_broken_video(data: Path, name: str = "broken") -> tuple[Path, Path]:
    """A new video, a copy of 'twins', to break; returns its frame and annotation folders."""
    frames, annotations = data / "JPEGImages" / name, data / "Annotations" / name
    shutil.copytree(data / "JPEGImages" / "twins", frames)
    shutil.copytree(data / "Annotations" / "twins", annotations)
    return frames, annotations


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x01not an image at all" * 20)


def palette_png(path: Path, labels: np.ndarray) -> None:
    write_label_map(path, labels)


def case_missing_frame(data, config):
    frames, _ = copy_broken_video(data)
    (frames / "00004.jpg").unlink()
    return ["broken: frames are not contiguous: missing 00004.jpg", "Restore the missing frames"]


def case_frame_size(data, config):
    frames, _ = copy_broken_video(data)
    Image.new("RGB", (100, 50)).save(frames / "00003.jpg")
    return ["broken/00003.jpg: frame size 100x50 differs from the video's first frame (320x180)",
            "All frames of a video must have one size"]


def case_annotation_size(data, config):
    _, annotations = copy_broken_video(data)
    palette_png(annotations / "00000.png", np.ones((90, 160), np.uint8))
    return ["broken/00000.png: annotation size 160x90 differs from the frame size 320x180",
            "Annotations must have the frames' resolution"]


def case_greyscale_annotation(data, config):
    _, annotations = copy_broken_video(data)
    grey = np.zeros((180, 320), np.uint8)
    grey[50:100, 50:100] = 255
    Image.fromarray(grey, "L").save(annotations / "00000.png")
    return ["broken/00000.png: this is a greyscale (L) 0/255 mask, not an indexed palette PNG"]


def case_rgb_annotation(data, config):
    _, annotations = copy_broken_video(data)
    Image.new("RGB", (320, 180), (128, 0, 0)).save(annotations / "00000.png")
    return ["broken/00000.png", "PNG mode is 'RGB', but annotations must be palette ('P') PNGs"]


def case_empty_first_annotation(data, config):
    _, annotations = copy_broken_video(data)
    palette_png(annotations / "00000.png", np.zeros((180, 320), np.uint8))
    return ["broken/00000.png: the first-frame annotation has no object", "Give each object to segment its own id"]


def case_missing_first_annotation(data, config):
    _, annotations = copy_broken_video(data)
    (annotations / "00000.png").unlink()
    return ["broken/00000.png: the first frame's annotation is missing"]


def case_corrupt_jpeg(data, config):
    frames, _ = copy_broken_video(data)
    garbage(frames / "00006.jpg")
    return ["broken/00006.jpg: unreadable JPEG", "Re-extract this frame from the video"]


def case_corrupt_first_png(data, config):
    _, annotations = copy_broken_video(data)
    garbage(annotations / "00000.png")
    return ["broken/00000.png: cannot decode this PNG", "The file is corrupt, truncated or not a plain annotation"]


def case_corrupt_ground_truth_png(data, config):
    """Found at parse time: every annotation PNG's header is read by the validation."""
    _, annotations = copy_broken_video(data)
    garbage(annotations / "00005.png")
    return ["broken/00005.png: cannot read this annotation PNG", "Re-export it"]


def case_unknown_model(data, config):
    config["models"]["mine"] = {"type": "cutie2"}
    return ["unknown model type 'cutie2'; known models: appearance, copy", "Fix the model's 'type'"]


def case_missing_checkpoint(data, config):
    config["models"]["sam"] = {"type": "sam2", "options": {"size": "tiny", "checkpoint": "/nowhere/sam2.1_hiera_tiny.pt"}}
    return ["models.sam.options.checkpoint: /nowhere/sam2.1_hiera_tiny.pt not found", "fix the path"]


def case_missing_checkout(data, config):
    config["models"]["cutie"] = {"type": "cutie", "options": {"repo": "/nowhere/Cutie", "checkpoint": "/nowhere/c.pth"}}
    return ["models.cutie: upstream checkout /nowhere/Cutie is missing",
            'Install it from PyPI (pip install "stseg[cutie]", which brings rf-cutie), or clone https://github.com/hkchengrex/Cutie']


def case_missing_environment(data, config):
    config["models"]["own"] = {"type": "flow", "python": "/nowhere/bin/python"}
    return ["models.own.python: /nowhere/bin/python is not an executable Python", "Create the model's environment"]


def case_schema_violation(data, config):
    config["pgmr"] = {"threshold": 2}
    return ["threshold", "2 is greater than the maximum of 1"]


def case_dataset_missing(data, config):
    config["dataset"] = {"root": "../nowhere"}
    return ["nowhere: dataset folder does not exist", "Set dataset.root"]


# --- the second round (issue: nothing lost, nothing stale, nothing silently wrong) -----------------------
def case_model_name_into_the_dataset(data, config):
    config["models"]["../../data/JPEGImages"] = {"type": "copy"}
    return ["models: the name '../../data/JPEGImages' cannot be used: it contains '/'", "Rename it under 'models:'"]


def case_model_name_outside_the_results(data, config):
    config["models"]["../../../escaped"] = {"type": "copy"}
    return ["models: the name '../../../escaped' cannot be used: it contains '/'", "nothing was run"]


def case_finetune_run_name_outside_the_results(data, config):
    config["finetune"] = {"../../../x": {"train_root": "../data", "init_checkpoint": "x.pt"}}
    return ["finetune: the name '../../../x' cannot be used: it contains '/'", "Rename it under 'finetune:'"]


def case_video_name_read_as_an_option(data, config):
    copy_broken_video(data, "-broken")
    return ["video name(s) cannot be used ('-broken': it starts with '-')", "Rename the video folders"]


def case_video_name_with_wildcard_braces(data, config):
    copy_broken_video(data, "a{broken}")
    return ["video name(s) cannot be used ('a{broken}': it contains '{', '}')"]


def case_video_name_too_long(data, config):
    copy_broken_video(data, "broken" + "x" * 240)
    return ["it is 246 bytes long (at most 200)", "a name must be one plain folder name of at most 200 bytes"]


def case_background_not_palette_index_0(data, config):
    """As PIL's adaptive conversion saves it: black (the background) at index 5, an object's colour at index 0."""
    _, annotations = copy_broken_video(data)
    labels = np.array(Image.open(annotations / "00000.png"))
    swapped = np.where(labels == 0, 5, np.where(labels == 1, 0, labels)).astype(np.uint8)
    image = Image.fromarray(swapped, "P")
    palette = [128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 0, 0] + [255] * (768 - 18)
    image.putpalette(palette)
    image.save(annotations / "00000.png")
    return ["broken/00000.png: the background (black) is palette index 5, and index 0 is the colour (128, 0, 0)",
            "Re-save it with the background at index 0"]


def case_two_names_for_one_frame(data, config):
    frames, _ = copy_broken_video(data)
    shutil.copy(frames / "00003.jpg", frames / "3.jpg")
    return ["broken: two files name one frame (00003.jpg and 3.jpg are both frame 3)", "remove the other"]


def case_one_frame_under_two_suffixes(data, config):
    """00003.jpg and 00003.jpeg: before, one frame was counted and the models read both (J&F 0.98 -> 0.42)."""
    frames, _ = copy_broken_video(data)
    shutil.copy(frames / "00004.jpg", frames / "00003.jpeg")
    return ["broken: two files name one frame (00003.jpeg and 00003.jpg)", "Keep one file per frame"]


def case_one_frame_video(data, config):
    frames, annotations = copy_broken_video(data)
    for path in [*sorted(frames.glob("*.jpg"))[1:], *sorted(annotations.glob("*.png"))[1:]]:
        path.unlink()
    return ["broken: 1 frame(s); a video needs at least 3"]


def case_two_frame_video(data, config):
    frames, annotations = copy_broken_video(data)
    for path in [*sorted(frames.glob("*.jpg"))[2:], *sorted(annotations.glob("*.png"))[2:]]:
        path.unlink()
    return ["broken: 2 frame(s); a video needs at least 3", "Remove this video"]


def case_nan_in_the_config(data, config):
    config["pgmr"] = {"weighting": "adaptive", "gamma": float("nan")}
    return ["pgmr.gamma: nan is not a finite number"]


def case_nan_threshold(data, config):
    config["pgmr"] = {"threshold": float("nan")}
    return ["pgmr.threshold: nan is not a finite number"]


def case_min_votes_above_the_voters(data, config):
    config["pgmr"] = {"min_votes": 3}
    return ["pgmr.min_votes is 3 but only 2 model(s) vote for the fused boxes", "Lower pgmr.min_votes"]


def case_bad_option_value(data, config):
    config["models"]["flow"] = {"type": "flow", "options": {"scale": "big"}}
    return ["models.flow.options.scale: 'big' is not a number (the default is 1.0)"]


def case_unknown_option(data, config):
    config["models"]["flow"] = {"type": "flow", "options": {"scael": 0.5}}
    return ["models.flow.options: unknown option(s) ['scael'] for model type 'flow'"]


def case_results_inside_the_dataset(data, config):
    config["results"] = "../data/JPEGImages/results"
    return ["lies inside the dataset folder ../data", "Choose a 'results:' folder outside dataset.root"]


# --- the third round (issue: nothing silently wrong, nothing lost after a kill) -------------------------------
def flipped(data: bytes) -> bytes:
    """Bytes of the entropy-coded data flipped, as a damaged disk or transfer would (libjpeg warns: corrupt data)."""
    damaged = bytearray(data)
    for at in range(len(damaged) // 2, len(damaged) // 2 + 40, 4):
        damaged[at] ^= 0xFF
    return bytes(damaged)


def case_truncated_jpeg(data, config):
    frames, _ = copy_broken_video(data)
    whole = (frames / "00006.jpg").read_bytes()
    (frames / "00006.jpg").write_bytes(whole[: len(whole) // 2])
    return ["broken/00006.jpg: damaged JPEG", "Re-extract this frame from the video"]


def case_jpeg_with_flipped_bytes(data, config):
    frames, _ = copy_broken_video(data)
    (frames / "00006.jpg").write_bytes(flipped((frames / "00006.jpg").read_bytes()))
    return ["broken/00006.jpg: damaged JPEG (Corrupt JPEG data", "Re-extract this frame from the video"]


def case_broken_symlink_among_the_frames(data, config):
    frames, _ = copy_broken_video(data)
    (frames / "00004.jpg").unlink()
    (frames / "00004.jpg").symlink_to(data / "gone" / "00004.jpg")
    return ["broken: broken symbolic link(s)", "00004.jpg ->", "Restore the files they point to"]


def with_size(png_or_jpeg: bytes, width: int, height: int) -> bytes:
    """The image's header made to claim another size (the PNG's IHDR with its CRC, or the JPEG's SOF0)."""
    import struct
    import zlib

    data = bytearray(png_or_jpeg)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    else:
        at = data.index(b"\xff\xc0")
        data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def case_jpeg_header_claiming_a_huge_size(data, config):
    frames, _ = copy_broken_video(data)
    (frames / "00003.jpg").write_bytes(with_size((frames / "00003.jpg").read_bytes(), 30000, 10000))
    return ["broken/00003.jpg: unreadable JPEG", "exceeds limit", "Re-extract this frame"]


def case_png_header_claiming_a_huge_size(data, config):
    _, annotations = copy_broken_video(data)
    (annotations / "00000.png").write_bytes(with_size((annotations / "00000.png").read_bytes(), 30000, 10000))
    return ["broken/00000.png: cannot decode this PNG", "re-export or re-download it"]


def case_png_text_chunk_that_inflates_to_megabytes(data, config):
    import struct
    import zlib

    _, annotations = copy_broken_video(data)
    png = (annotations / "00000.png").read_bytes()
    body = b"Comment\x00\x00" + zlib.compress(b"x" * (64 << 20), 9)  # a zTXt chunk: 64 MB of text
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    (annotations / "00000.png").write_bytes(png[:33] + chunk + png[33:])  # after IHDR
    return ["broken/00000.png: cannot decode this PNG", "Decompressed", "re-export or re-download it"]


def case_ground_truth_frame_of_another_size(data, config):
    _, annotations = copy_broken_video(data)
    palette_png(annotations / "00005.png", np.ones((90, 160), np.uint8))
    return ["broken/00005.png: annotation size 160x90 differs from the frame size 320x180",
            "Annotations (ground truth included) must have the frames' resolution"]


def case_annotation_suffix_in_capitals(data, config):
    _, annotations = copy_broken_video(data)
    for path in annotations.glob("*.png"):
        path.rename(path.with_suffix(".PNG"))
    return ["broken: annotation suffix in capitals (00000.PNG", "Rename them with the lower-case suffix"]


def case_several_config_problems_are_reported_in_one_run(data, config):
    config["finetune"] = {"mose": {"train_root": "/nowhere/MOSE/train", "init_checkpoint": "/nowhere/sam2.pt"}}
    config["models"]["flow"] = {"type": "flow", "options": {"scale": "big"}}
    config["models"]["sam"] = {"type": "sam2", "options": {"size": "tiny", "checkpoint": "/nowhere/sam2.1_hiera_tiny.pt"}}
    return ["3 problems in the config or the data; nothing was run",
            "finetune.mose.init_checkpoint: /nowhere/sam2.pt not found", "models.flow.options.scale: 'big' is not a number",
            "models.sam.options.checkpoint: /nowhere/sam2.1_hiera_tiny.pt not found",
            "docs/models.md, 'Where the weights come from'"]


def case_a_finetune_train_root_that_does_not_exist(data, config):
    config["finetune"] = {"tmo-mose": {"model": "tmo", "train_root": "/nowhere/MOSE/train", "random_init": True}}
    return ["finetune.tmo-mose.train_root: /nowhere/MOSE/train: dataset folder does not exist. Set "
            "finetune.tmo-mose.train_root in the config"]


def case_empty_results_path(data, config):
    config["results"] = ""
    return ["results: the path is empty", "nothing was run"]


def case_braces_in_the_results_path(data, config):
    config["results"] = "results-{date}"
    return ["results: results-{date} contains '{' or '}', which Snakemake reads as a wildcard", "Rename the folder"]


def case_braces_in_a_precomputed_path(data, config):
    brought = data.parent / "brought{1}"
    shutil.copytree(data / "Annotations", brought)
    config["models"]["mine"] = {"type": "precomputed", "options": {"path": str(brought)}}
    return [f"models.mine.options.path: {brought} contains '{{' or '}}'"]


def case_a_frame_numbered_with_a_superscript_digit(data, config):
    frames, _ = copy_broken_video(data)
    shutil.copy(frames / "00004.jpg", frames / "00001\u00b2.jpg")  # '00001²': str.isdigit() says yes, int() no
    return ["broken: frame names must be integers (00000.jpg, 00001.jpg, ...); found 00001\u00b2.jpg"]


def case_a_precomputed_folder_missing_a_video(data, config):
    brought = data.parent / "brought"
    shutil.copytree(data / "Annotations", brought)
    shutil.rmtree(brought / "crossing")
    config["models"]["mine"] = {"type": "precomputed", "options": {"path": str(brought)}}
    return [f"models.mine.options.path: {brought} has no masks of 1 video(s) (crossing)", "leave those videos out"]


def case_a_later_ground_truth_frame_in_rgb(data, config):
    """Refused when the workflow is parsed, not by the scoring after every model ran."""
    _, annotations = copy_broken_video(data)
    Image.open(annotations / "00005.png").convert("RGB").save(annotations / "00005.png")
    return ["broken/00005.png: PNG mode is 'RGB'"]


def case_a_later_ground_truth_frame_with_two_objects_swapped(data, config):
    """Ids 1 and 2 swapped in the pixels and in the palette: it looks identical, and would be scored swapped."""
    _, annotations = copy_broken_video(data)
    path = annotations / "00005.png"
    image = Image.open(path)
    labels = np.array(image)
    palette = image.getpalette()
    swapped = np.where(labels == 1, 2, np.where(labels == 2, 1, labels)).astype(np.uint8)
    palette[3:6], palette[6:9] = palette[6:9], palette[3:6]
    out = Image.fromarray(swapped, "P")
    out.putpalette(palette)
    out.save(path)
    return ["broken/00005.png: object id 1 has the colour", "the ids and colours of the ground truth changed between frames"]


def case_a_later_ground_truth_frame_with_the_background_at_another_index(data, config):
    _, annotations = copy_broken_video(data)
    path = annotations / "00005.png"
    labels = np.array(Image.open(path))
    swapped = np.where(labels == 0, 5, np.where(labels == 5, 0, labels)).astype(np.uint8)
    image = Image.fromarray(swapped, "P")
    palette = [128, 0, 0] + Image.open(annotations / "00000.png").getpalette()[3:15] + [0, 0, 0] + [255] * (768 - 18)
    image.putpalette(palette[:768])
    image.save(path)
    return ["broken/00005.png: the background (black) is palette index 5"]


def case_config_typos_each_named_with_its_line(data, config):
    """`option:` for `options:` and `strategy: fusion`: every problem of the schema in one run, one line each."""
    config["models"]["flow"] = {**config["models"]["flow"], "option": {"scale": 1.0}}
    config["pgmr"] = {"strategy": "fusion"}
    return ["2 problems in the config; nothing was run:",
            "test-config.yaml, line ", "models.flow.option: unknown key; allowed here: baseline, finetuned, gpus,",
            "pgmr.strategy: 'fusion' is not allowed; choose one of video, object, vote, fuse, auto"]


def case_frames_dated_a_day_ahead(data, config):
    """Copied from a machine whose clock was a day ahead: refused at parse, not failed by Snakemake after each job."""
    frames, annotations = copy_broken_video(data)
    ahead = time.time() + 86400
    for path in (*frames.iterdir(), frames, *annotations.iterdir()):
        os.utime(path, (ahead, ahead))
    return [f"{frames} is dated ", "h ahead of this machine's clock", "(and 10 other input(s))",
            f"re-date the files: find {data} -newermt now -exec touch -h {{}} +"]


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_named_and_nothing_is_lost(case, finished, tmp_path):
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    before = results_digest(base / "work")
    data_before = tree_digest(base / "data")
    config = {**BASE_CONFIG, "models": dict(BASE_CONFIG["models"])}
    expected = CASES[case](base / "data", config)
    result = snakemake(base / "work", config, "--cores", "2", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    for text in expected:
        assert text in output, f"{text!r} not in:\n{output[-4000:]}"
    after = results_digest(base / "work")
    assert {k: v for k, v in after.items() if k in before} == before  # no result deleted or changed
    new = sorted(set(after) - set(before) - {"failed.csv"})
    assert all("broken" in k for k in new), new  # only the broken video's own outputs may appear
    # a case refused when the workflow is parsed runs no job and writes no report; one whose job failed is reported
    report = base / "work" / "results" / "failed.csv"
    assert report.exists() == ("Error in rule" in output), output[-3000:]
    if report.exists():
        assert report.read_text().splitlines()[1].startswith("broken,")
    # and the dataset itself is untouched apart from what the case did
    assert {k: v for k, v in tree_digest(base / "data").items() if "broken" not in k} == \
           {k: v for k, v in data_before.items() if "broken" not in k}


def test_output_folder_that_is_not_writable(finished, tmp_path):
    """Refused before any job runs. Root may write anywhere except pseudo file systems, so root gets /proc."""
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    work = base / "work"
    before = results_digest(work)
    if os.geteuid() == 0:
        locked = Path("/proc")
    else:
        locked = work / "locked"
        locked.mkdir()
        os.chmod(locked, 0o555)
    config = {**BASE_CONFIG, "results": str(locked / "stseg-results")}
    try:
        result = snakemake(work, config, "--cores", "1", check=False)
    finally:
        if locked != Path("/proc"):
            os.chmod(locked, 0o755)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"results: {locked} is not a folder this user can write (the results folder would be created inside it)" in output
    assert "Choose another 'results:' folder in the config or fix its permissions; nothing was run." in output
    assert not (locked / "stseg-results").exists()
    assert results_digest(work) == before


def test_predicted_object_absent_from_the_ground_truth(small_demo, tmp_path):
    """The evaluation names the frame and the ids (stseg evaluate, the scoring's entry point)."""
    gt = small_demo / "Annotations"
    pred = tmp_path / "pred"
    shutil.copytree(gt / "twins", pred / "twins")
    labels = np.array(Image.open(pred / "twins" / "00003.png"))
    labels[:5, :5] = 3
    write_label_map(pred / "twins" / "00003.png", labels)
    result = subprocess.run([sys.executable, "-m", "stseg.cli", "evaluate", "--pred", str(pred), "--gt", str(gt),
                             "--videos", "twins"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "00003.png: predicted object id(s) [3] are not in the first-frame ground truth" in result.stderr


# SAM2 (tiny, random weights, unbounded memory) estimates 156 MB of weights + 0.75 MB per frame at 256 px:
# 163 MB for the 10-frame demo videos, 201 MB for a 60-frame one; the job gets mem_mb x attempt.
SAM2_HUNGRY = {"type": "sam2", "gpus": 0, "mem_mb": 180,
               "options": {"size": "tiny", "image_size": 256, "device": "cpu", "random_init": True,
                           "bounded_memory": False}}


def with_long_video(small_demo: Path, where: Path) -> Path:
    data = where / "data"
    shutil.copytree(small_demo, data)
    frames, annotations = data / "JPEGImages" / "long", data / "Annotations" / "long"
    frames.mkdir()
    annotations.mkdir()
    for t in range(60):
        shutil.copy(small_demo / "JPEGImages" / "twins" / f"{t % 10:05d}.jpg", frames / f"{t:05d}.jpg")
    shutil.copy(small_demo / "Annotations" / "twins" / "00000.png", annotations / "00000.png")
    return data


def test_a_video_short_of_memory_from_the_failure_to_the_retry(small_demo, tmp_path):
    """One video's SAM2 job is short of memory, run by run as a user meets it: without --keep-going the report
    tells the failed video from the unfinished ones; with it (the dataset prior on) the others' scores complete and
    they wait for the prior, naming the fix; with the fix the others finish; --retries gives the job twice the
    memory and the run completes, the failure report removed."""
    data = with_long_video(small_demo, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    results = work / "results"
    config = {"dataset": {"root": str(data)}, "results": "results", "models": {"flow": MODELS["flow"], "sam": SAM2_HUNGRY}}
    others = ("crossing", "fast-ball", "twins")

    stopped = snakemake(work, config, "--cores", "1", check=False)
    assert stopped.returncode != 0 and "1 of 4 video(s) failed;" in stopped.stdout + stopped.stderr
    report = pd.read_csv(results / "failed.csv").set_index("video")
    assert report.loc["long", "stage"] == "infer/sam" and "sam2 needs about 201 MB" in report.loc["long", "reason"]
    unfinished = report.drop(index="long")
    assert len(unfinished) == 3 and not unfinished["reason"].str.contains("sam2 needs").any()
    assert all(r.startswith(("not finished: the run stopped at another job's failure", "not selected yet"))
               for r in unfinished["reason"])

    waiting = snakemake(work, config, "--cores", "2", "--keep-going", check=False)
    output = waiting.stdout + waiting.stderr
    assert waiting.returncode != 0
    for video in others:
        assert (results / "scores" / f"{video}.csv").is_file(), output[-3000:]
        assert not (results / "final" / video).exists()
    report = pd.read_csv(results / "failed.csv").set_index("video")
    assert report.loc["long", "stage"] == "infer/sam"
    for video in others:
        reason = report.loc[video, "reason"]
        assert report.loc[video, "stage"] == "select" and reason.endswith("or set pgmr.prior_margin: null")
    assert "1 of 4 video(s) failed; the others' results are complete up to their scores (3 wait for the dataset prior):" in output

    fixed = {**config, "pgmr": {"prior_margin": None}}
    going = snakemake(work, fixed, "--cores", "2", "--keep-going", check=False)
    output = going.stdout + going.stderr
    assert going.returncode != 0
    for video in others:
        assert len(list((results / "final" / video).glob("*.png"))) == 10, output[-3000:]
    assert not (results / "final" / "long").exists() and not (results / "masks" / "sam" / "long").exists()
    report = (results / "failed.csv").read_text().splitlines()
    assert report[0] == "video,stage,log,reason" and len(report) == 2
    assert report[1].startswith("long,infer/sam,")
    assert "sam2 needs about 201 MB" in report[1] and "mem_mb=180" in report[1]
    assert "1 of 4 video(s) failed; the others' results are complete:" in output
    assert "  long: infer/sam: stseg infer: error: sam2 needs about 201 MB" in output

    retried = snakemake(work, fixed, "--cores", "2", "--retries", "1")
    output = retried.stdout + retried.stderr
    assert len(list((results / "masks" / "sam" / "long").glob("*.png"))) == 60
    assert len(list((results / "final" / "long").glob("*.png"))) == 60
    assert not (results / "failed.csv").exists()  # every video complete: the earlier runs' report is gone
    # the first attempt failed for lack of memory, the second got twice the memory (and runtime)
    first, restart = output.index("Error in rule infer:"), output.index("Trying to restart job")
    assert "output: results/masks/sam/long" in output[first:restart]
    assert "mem_mb=360" in output[restart:] and "runtime=120" in output[restart:]
    # the failed attempt's own words (its log is overwritten by the retry): the same job run alone with 180 MB
    alone = subprocess.run(
        [sys.executable, "-m", "stseg.cli", "infer", "--model-type", "sam2", "--quiet", "--mem-mb", "180",
         "--options", json.dumps(SAM2_HUNGRY["options"]), "--frames", str(data / "JPEGImages" / "long"),
         "--annotation", str(data / "Annotations" / "long" / "00000.png"), "--out", str(tmp_path / "alone")],
        capture_output=True, text=True)
    assert alone.returncode == 2 and not (tmp_path / "alone").exists()
    assert "sam2 needs about 201 MB for" in alone.stderr and "mem_mb=180. Retries get attempt x mem_mb" in alone.stderr


def test_a_key_given_twice_in_the_config_is_refused(finished, tmp_path):
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    before = results_digest(base / "work")
    text = ("dataset: {root: ../data}\nresults: results\nmodels:\n  flow: {type: flow}\n"
            "  appearance: {type: appearance}\n  flow: {type: copy}\n")
    (base / "work" / "dup.yaml").write_text(text)
    result = subprocess.run([*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(base / "work"),
                             "--configfile", str(base / "work" / "dup.yaml"), "--cores", "1"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "dup.yaml: the key 'flow' is given twice in one mapping (lines 4 and 6)" in result.stderr
    assert results_digest(base / "work") == before


def test_evaluate_refuses_a_video_with_two_ground_truth_frames(small_demo, tmp_path):
    gt = tmp_path / "gt" / "short"
    gt.mkdir(parents=True)
    for frame in ("00000.png", "00001.png"):
        shutil.copy(small_demo / "Annotations" / "twins" / frame, gt / frame)
    shutil.copytree(gt, tmp_path / "pred" / "short")
    result = subprocess.run([sys.executable, "-m", "stseg.cli", "evaluate", "--gt", str(tmp_path / "gt"),
                             "--pred", str(tmp_path / "pred")], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    assert "2 ground-truth frame(s) for video 'short'; J&F scores the frames between the first and the last" in result.stderr


def test_names_that_used_to_collide_both_run(small_demo, tmp_path):
    """``twins`` and ``twins.outcome``: every per-video output has its own folder and one suffix."""
    data = tmp_path / "data"
    shutil.copytree(small_demo, data)
    for stage in ("JPEGImages", "Annotations"):
        shutil.copytree(data / stage / "twins", data / stage / "twins.outcome")
    (tmp_path / "work").mkdir()
    config = {**BASE_CONFIG, "dataset": {"root": str(data), "videos": ["twins", "twins.outcome"]}}
    snakemake(tmp_path / "work", config, "--cores", "2")
    results = tmp_path / "work" / "results"
    for video in ("twins", "twins.outcome"):
        assert len(list((results / "final" / video).glob("*.png"))) == 10
        assert (results / "outcome" / f"{video}.csv").is_file() and (results / "weights" / f"{video}.csv").is_file()
    assert (results / "outcome" / "twins.csv").read_text().splitlines()[1:] == \
           [line.replace("twins.outcome,", "twins,") for line in (results / "outcome" / "twins.outcome.csv").read_text().splitlines()[1:]]


def test_a_corrected_ground_truth_frame_reruns_its_scoring(finished, tmp_path):

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    assert "Nothing to be done" in snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout
    target = base / "data" / "Annotations" / "twins" / "00005.png"
    corrected = np.array(Image.open(target))
    corrected[:4, :4] = 1  # a corrected ground truth (the same bytes rewritten would not count: Snakemake checks sums)
    write_label_map(target, corrected)
    plan = job_counts(snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout)
    # the video's scoring; its scores feed the dataset prior, so every video's (cheap) selection follows
    assert plan.get("score") == 1 and plan.get("prior") == 1 and plan.get("select") == 3
    assert "infer" not in plan and "pseudolabel" not in plan and "fuse" not in plan


def test_a_results_folder_in_use_by_another_run_is_refused(finished, tmp_path):
    """Two runs from different working directories on one results folder: the second is refused at once."""
    import fcntl

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    before = results_digest(base / "work")
    other = tmp_path / "elsewhere"
    other.mkdir()
    config = {**BASE_CONFIG, "dataset": {"root": str(base / "data")}, "results": str(base / "work" / "results")}
    lock = base / "work" / "results" / ".stseg" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as holder:  # as the first run holds it
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.truncate(0)
        holder.write("pid 4242, started in /somewhere\n")
        holder.flush()
        result = snakemake(other, config, "--cores", "1", "--forcerun", "submission", check=False)
        dry = snakemake(other, config, "--dry-run", check=False)  # a dry run only reads: allowed
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"results: {base / 'work' / 'results'} is in use by another run (pid 4242, started in /somewhere)" in output
    assert "Wait for it to finish, or give this run another 'results:' folder; nothing was run." in output
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert results_digest(base / "work") == before
    snakemake(other, config, "--cores", "1", "--forcerun", "submission")  # once the other run is gone
    assert results_digest(base / "work") == before  # the same zip, byte for byte


def test_a_failing_rerun_after_a_complete_run_is_reported(finished, tmp_path):
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    assert not (base / "work" / "results" / "failed.csv").exists()
    (base / "saved").mkdir()
    for name in ("summary.csv", "submission.zip", "summary.txt"):
        shutil.copy(base / "work" / "results" / name, base / "saved" / name)
    results = base / "work" / "results"
    before = results_digest(base / "work")
    annotation = base / "data" / "Annotations" / "twins" / "00005.png"
    good = annotation.read_bytes()
    edit_png(annotation)  # twins' ground truth corrected: its scoring reruns, and fails in its job
    python = stand_in_stseg(tmp_path / "venv")
    result = snakemake(base / "work", BASE_CONFIG, "--cores", "1", "--keep-going", check=False, python=python,
                       env={"STSEG_TEST_STEP": "score", "STSEG_TEST_MODE": "fail", "STSEG_TEST_VIDEO": "twins"})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    report = pd.read_csv(results / "failed.csv").set_index("video")
    assert report.loc["twins", "stage"] == "score" and "a failure the test made" in report.loc["twins", "reason"]
    assert "1 of 3 video(s) failed" in output
    # Snakemake removed twins' old scores before the failed job: the summary and zip no longer describe the
    # results on disk, so they are moved aside, byte for byte, not left in place as if current
    assert not (results / "scores" / "twins.csv").exists()
    assert "moved 7 output(s) that described earlier masks to" in output
    for name in ("summary.csv", "submission.zip", "summary.txt"):
        assert not (results / name).exists() and (results / "stale" / name).read_bytes() == (base / "saved").joinpath(name).read_bytes()
    annotation.write_bytes(good)  # back as it was: a complete run writes them again and clears the stale folder
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    assert not (results / "stale").exists() and not (results / "failed.csv").exists()
    after = results_digest(base / "work")
    assert after["submission.zip"] == before["submission.zip"] and after["summary.csv"] == before["summary.csv"]


def test_a_deleted_intermediate_is_made_again(finished, tmp_path):
    """One model's masks of one video deleted after a run: that job and what depends on it rerun, nothing else."""

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    shutil.rmtree(base / "work" / "results" / "masks" / "flow" / "twins")
    plan = job_counts(snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout)
    assert plan["infer"] == 1 and plan["fuse"] == 1 and plan["pseudolabel"] == 1 and plan["score"] == 1
    assert plan["select"] == 3  # the prior follows the video's new scores
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    assert len(list((base / "work" / "results" / "masks" / "flow" / "twins").glob("*.png"))) == 10


def edit_png(path: Path) -> None:
    """Rewrite a palette PNG in place with a few pixels changed (its folder's mtime does not move)."""
    labels = np.array(Image.open(path))
    labels[:6, :6] = 0
    write_label_map(path, labels)


def test_a_frame_edited_in_place_reruns_its_video(finished, tmp_path):

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    frame = base / "data" / "JPEGImages" / "twins" / "00004.jpg"
    folder_mtime = frame.parent.stat().st_mtime_ns
    pixels = np.array(Image.open(frame))
    pixels[:30, :30] = 0
    Image.fromarray(pixels).save(frame)
    assert frame.parent.stat().st_mtime_ns == folder_mtime  # what Snakemake alone would look at
    plan = job_counts(snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout)
    assert plan["infer"] == 2 and plan["fuse"] == 1 and plan["pseudolabel"] == 1 and plan["score"] == 1
    before = results_digest(base / "work")
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    after = results_digest(base / "work")
    changed = {k for k in after if after[k] != before.get(k)}
    assert not any(k.startswith(("masks/flow/crossing/", "masks/flow/fast-ball/", "pseudo/crossing/")) for k in changed)
    assert "Nothing to be done" in snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout


def test_a_model_mask_edited_in_place_reruns_what_reads_it(finished, tmp_path):
    """The edit is kept (the model does not rerun) and every stage after it uses it."""

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    mask = base / "work" / "results" / "masks" / "flow" / "crossing" / "00005.png"
    edit_png(mask)
    edited = mask.read_bytes()
    plan = job_counts(snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout)
    assert "infer" not in plan and plan["fuse"] == 1 and plan["pseudolabel"] == 1 and plan["score"] == 1
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    assert mask.read_bytes() == edited
    assert "Nothing to be done" in snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout


def test_a_frame_deleted_from_an_intermediate_folder_is_made_again(finished, tmp_path):

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    pseudo = base / "work" / "results" / "pseudo" / "fast-ball"
    kept = (pseudo / "00004.png").read_bytes()
    (pseudo / "00003.png").unlink()
    plan = job_counts(snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout)
    assert plan["pseudolabel"] == 1 and "infer" not in plan and "fuse" not in plan
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    assert len(list(pseudo.glob("*.png"))) == 10 and (pseudo / "00004.png").read_bytes() == kept


@pytest.fixture
def full_disk(tmp_path):
    """A 16 MiB tmpfs to hold a results folder (root with mount rights only)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, text=True) \
        if os.geteuid() == 0 and shutil.which("mount") else None
    if done is None or done.returncode != 0:
        pytest.skip("a full disk is simulated with a small tmpfs: needs root and mount rights "
                    f"({done.stderr.strip() if done else 'not root'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> None:
    """Fill the disk to its last byte (unbuffered writes, smaller and smaller: nothing left to flush at close)."""
    with open(disk / "filler", "wb", buffering=0) as filler:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            with contextlib.suppress(OSError):
                while filler.write(b"\0" * size):
                    pass


def test_a_disk_full_rerun_reports_and_keeps_what_it_can(small_demo, tmp_path, full_disk):
    """A model changed when the results' disk is full: the report says the disk is full (printed, since
    failed.csv cannot be written), the older summary and zip are moved aside, and the masks Snakemake removed for
    jobs that then failed are kept in stale/, byte for byte.  (Only the changed model's jobs are to do, so the
    first job to fail is one whose earlier masks Snakemake removed; with a model added too, the scheduler may
    start with the new model's job and stop before any earlier mask is removed.)"""
    (tmp_path / "work").mkdir()
    config = {**BASE_CONFIG, "dataset": {"root": str(small_demo)}, "results": str(full_disk / "results")}
    snakemake(tmp_path / "work", config, "--cores", "2")
    zip_before = (full_disk / "results" / "submission.zip").read_bytes()
    masks_before = tree_digest(full_disk / "results" / "masks")
    fill(full_disk)
    flow = {**MODELS["flow"], "options": {**MODELS["flow"]["options"], "preset": "medium"}}
    bigger = {**config, "models": {"flow": flow, "appearance": MODELS["appearance"]}}
    result = snakemake(tmp_path / "work", bigger, "--cores", "1", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "(empty log) the file system of" in output or "No space left on device" in output
    assert "could not write" in output and "failed.csv" in output
    assert "did not finish" in output
    assert (full_disk / "results" / "stale" / "submission.zip").read_bytes() == zip_before
    assert not (full_disk / "results" / "submission.zip").exists()
    now = tree_digest(full_disk / "results" / "masks")
    kept = tree_digest(full_disk / "results" / "stale" / "masks") if (full_disk / "results" / "stale" / "masks").is_dir() else {}
    for name, digest in masks_before.items():  # every earlier mask is in place (flow's may be redone) or in stale/
        assert now.get(name) == digest or kept.get(name) == digest or (name.startswith("flow/") and name in now), name
    assert all(kept[name] == masks_before[name] for name in kept)
    assert "the last good outputs of" in output, output[-6000:]
    (full_disk / "filler").unlink()
    snakemake(tmp_path / "work", bigger, "--cores", "2")
    assert not (full_disk / "results" / "stale").exists() and (full_disk / "results" / "submission.zip").is_file()


def test_a_full_disk_at_the_prior_and_at_the_validation_cache_is_named(small_demo, tmp_path, full_disk):
    """The dataset prior's job on a full disk: the report names that job and its cause (not videos 'waiting'
    for nothing); a parse that cannot write the validation cache: one line naming the file and the full disk."""
    (tmp_path / "work").mkdir()
    config = {**BASE_CONFIG, "dataset": {"root": str(small_demo)}, "results": str(full_disk / "results")}
    snakemake(tmp_path / "work", config, "--cores", "2")
    fill(full_disk)
    other_prior = {**config, "pgmr": {**config.get("pgmr", {}), "prior_margin": 0.02}}  # only the prior and after
    result = snakemake(tmp_path / "work", other_prior, "--cores", "1", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the prior job (of the whole dataset) failed: (empty log) the file system of" in output, output[-3000:]
    assert "no video's own job failed; 3 of 3 wait for the dataset prior:" in output, output[-3000:]
    assert "the dataset prior's job failed (its row above)" in output

    shutil.rmtree(full_disk / "results" / ".stseg" / "validated")
    fill(full_disk)  # the cache's own space taken too
    result = snakemake(tmp_path / "work", config, "--cores", "1", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert ": could not write the dataset's validation cache (No space left on device; 0 KiB free" in output, output
    assert "Free some space (or set results to another folder) and rerun; nothing was run." in output


def sparse_copy(data: Path, name: str, new_object: int, frame: str) -> None:
    """A copy of 'crossing' whose object ``new_object`` is left out of frame 0 and first annotated on ``frame``."""
    shutil.copytree(data / "JPEGImages" / "crossing", data / "JPEGImages" / name)
    source, target = data / "Annotations" / "crossing", data / "Annotations" / name
    target.mkdir()
    first, later = np.array(Image.open(source / "00000.png")), np.array(Image.open(source / f"{frame}.png"))
    write_label_map(target / "00000.png", np.where(first == new_object, 0, first).astype(np.uint8))
    write_label_map(target / f"{frame}.png", np.where(later == new_object, new_object, 0).astype(np.uint8))


def test_an_object_first_annotated_later_is_segmented_and_scored_from_there(finished, tmp_path):
    """Sparse annotations (YouTube-VOS / LVOS): every model adds the object at its frame, the pseudo-label and the
    final masks carry it from there, the zip has it, and it is scored on the frames after its first mask."""
    import zipfile

    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    before = results_digest(base / "work")
    sparse_copy(base / "data", "sparse", 3, "00004")
    result = subprocess.run([sys.executable, "-m", "stseg.cli", "validate", str(base / "data")], capture_output=True, text=True)
    assert "ok       sparse: 10 frames 320x180, objects [1, 2], later: 3 on 00004" in result.stdout, result.stdout + result.stderr
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    results = base / "work" / "results"
    for stage in ("masks/flow", "masks/appearance", "pseudo", "final"):
        maps = [np.array(Image.open(results / stage / "sparse" / f"{t:05d}.png")) for t in range(10)]
        assert all(3 not in m for m in maps[:4]) and all(3 in m for m in maps[4:]), stage
    given = np.array(Image.open(base / "data" / "Annotations" / "sparse" / "00004.png")) == 3
    assert np.array_equal(np.array(Image.open(results / "pseudo" / "sparse" / "00004.png")) == 3, given)
    scores = pd.read_csv(results / "scores" / "sparse.csv")
    frames = scores.groupby("object")["frames"].max()
    assert frames[3] == 4 and frames[1] == 8  # after frame 4 (and before the last) / every frame but the first and last
    with zipfile.ZipFile(results / "submission.zip") as archive:
        assert 3 in np.array(Image.open(archive.open("sparse/00006.png")))
    after = results_digest(base / "work")
    kept = {k: v for k, v in before.items() if not k.startswith(("summary", "submission", "report/", "prior", "selection/",
                                                                  "outcome/", "final/"))}
    assert {k: after[k] for k in kept} == kept  # the other videos' masks, pseudo-labels and scores are untouched


def test_an_object_first_annotated_on_the_last_frames_is_refused(finished, tmp_path):
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    sparse_copy(base / "data", "late", 3, "00008")
    result = snakemake(base / "work", BASE_CONFIG, "--cores", "1", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "late/00008.png: object 3 is first annotated on frame 00008, one of the video's last two frames" in output
    assert "Remove it from this annotation (or give it on an earlier frame)." in output


def with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The same JPEG (the same image data) with an EXIF orientation tag, as a phone or camera writes it."""
    import struct

    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def test_inputs_the_field_ships_run_as_documented(small_demo, tmp_path, monkeypatch):
    """One run over the inputs that are legitimate, each with its documented outcome:

    * ``rotated``: every frame carries an EXIF orientation (3, and 6 on one frame); frames are read as stored, so
      every model's masks are those of the same frames without the tag (OpenCV would turn them against the
      annotation);
    * ``apple``: macOS AppleDouble files (``._00003.jpg``, ``._00000.png``) beside the frames: not frames;
    * ``void``: the first-frame annotation has void pixels (255): background for every model and the scoring;
    * ``strided``: YouTube-VOS's layout, every 2nd frame kept (00000, 00002, ...), an object first annotated on
      00004: it runs through every stage, and every output keeps the original frame names;
    * ``results: ~/stseg-results``: under the home folder, not in a folder named '~'."""
    data = tmp_path / "data"
    (data / "JPEGImages").mkdir(parents=True)
    (data / "Annotations").mkdir()
    source_frames, source_annotations = small_demo / "JPEGImages" / "twins", small_demo / "Annotations" / "twins"
    for name in ("twins", "rotated", "apple", "void"):
        shutil.copytree(source_frames, data / "JPEGImages" / name)
        (data / "Annotations" / name).mkdir()
        shutil.copy(source_annotations / "00000.png", data / "Annotations" / name / "00000.png")
    for path in (data / "JPEGImages" / "rotated").glob("*.jpg"):  # 3 (upside down) on every frame, 6 on one
        path.write_bytes(with_orientation(path.read_bytes(), 6 if path.stem == "00005" else 3))
    (data / "JPEGImages" / "apple" / "._00003.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (data / "Annotations" / "apple" / "._00000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    first = np.array(Image.open(source_annotations / "00000.png"))
    void = first.copy()
    void[np.roll(first > 0, 2, axis=1) & (first == 0)] = 255  # a void band along the objects' edges, as DAVIS
    palette_png(data / "Annotations" / "void" / "00000.png", void)
    strided = data / "JPEGImages" / "strided"
    strided.mkdir()
    for t in range(0, 10, 2):
        shutil.copy(source_frames / f"{t:05d}.jpg", strided / f"{t:05d}.jpg")
    (data / "Annotations" / "strided").mkdir()
    palette_png(data / "Annotations" / "strided" / "00000.png", np.where(first == 2, 0, first).astype(np.uint8))
    later = np.array(Image.open(source_annotations / "00004.png"))
    palette_png(data / "Annotations" / "strided" / "00004.png", np.where(later == 2, 2, 0).astype(np.uint8))

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    config = {"dataset": {"root": str(data)}, "results": "~/stseg-results", "models": dict(BASE_CONFIG["models"])}
    result = snakemake(work, config, "--cores", "2")
    results = home / "stseg-results"
    assert results.is_dir() and not (work / "~").exists(), result.stdout[-2000:]
    for model in config["models"]:
        assert tree_digest(results / "masks" / model / "rotated") == tree_digest(results / "masks" / model / "twins")
        for t in range(10):
            assert 255 not in np.unique(np.array(Image.open(results / "masks" / model / "void" / f"{t:05d}.png")))
    assert sorted(p.name for p in (results / "masks" / "flow" / "apple").glob("*.png")) == [f"{t:05d}.png" for t in range(10)]
    names = [f"{t:05d}.png" for t in range(0, 10, 2)]
    for stage in ("masks/flow", "masks/appearance", "pseudo", "final"):
        assert sorted(p.name for p in (results / stage / "strided").glob("*.png")) == names, stage
    assert 2 not in np.array(Image.open(results / "final" / "strided" / "00002.png"))
    with zipfile.ZipFile(results / "submission.zip") as archive:
        assert sorted(n for n in archive.namelist() if n.startswith("strided/")) == [f"strided/{n}" for n in names]
    scores = pd.read_csv(results / "scores" / "strided.csv")
    assert set(scores["object"]) == {1, 2} and scores["JF"].notna().all()


def test_a_corrected_annotation_restored_with_an_older_time_reruns_its_video(finished, tmp_path):
    """``cp -p`` / ``rsync -a`` / ``tar`` / ``unzip`` keep the file's old mtime: Snakemake's newer-than rule would
    see nothing; the annotation stamps in the jobs' parameters do."""
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    annotation = base / "data" / "Annotations" / "twins" / "00000.png"
    labels = np.array(Image.open(annotation))
    stat = annotation.stat()
    palette_png(annotation, np.where(labels == 2, 0, labels).astype(np.uint8))  # object 2 removed ...
    os.utime(annotation, ns=(stat.st_atime_ns, stat.st_mtime_ns - 3_600_000_000_000))  # ... an hour older
    plan = job_counts(snakemake(base / "work", BASE_CONFIG, "--dry-run").stdout)
    assert plan.get("infer") == 2 and plan.get("select") == 3, plan  # the video's models; every selection (prior)
    snakemake(base / "work", BASE_CONFIG, "--cores", "2")
    final = base / "work" / "results" / "final" / "twins"
    assert all(2 not in np.array(Image.open(p)) for p in final.glob("*.png"))


def test_a_frame_too_large_to_decode_is_skipped_with_on_invalid_skip(finished, tmp_path):
    base = tmp_path / "copy"
    shutil.copytree(finished, base, symlinks=True)
    copy_broken_video(base / "data")
    frames = base / "data" / "JPEGImages" / "broken"
    (frames / "00003.jpg").write_bytes(with_size((frames / "00003.jpg").read_bytes(), 30000, 10000))
    annotations = base / "data" / "Annotations" / "broken"
    config = {**BASE_CONFIG, "dataset": {**BASE_CONFIG["dataset"], "on_invalid": "skip"}}
    result = snakemake(base / "work", config, "--cores", "2")
    assert "broken/00003.jpg: unreadable JPEG" in result.stdout + result.stderr
    assert not (base / "work" / "results" / "final" / "broken").exists()
    assert annotations.is_dir()
