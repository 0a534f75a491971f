"""The Snakefile run through Snakemake's own command line on a small generated dataset."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import (
    MODELS,
    job_counts,
    snakemake,
    tree_digest,
)
from PIL import Image

from stseg.masks import read_label_map, read_palette
from stseg.submission import check_submission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(small_demo, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    data = workdir / "data"
    shutil.copytree(small_demo, data)
    config = {"dataset": {"root": str(data)}, "results": str(workdir / "results"), "models": MODELS}
    before = tree_digest(data)
    result = snakemake(workdir, config, "--cores", "2")
    return workdir, data, config, before, result


def test_masks_for_every_model_video_and_frame(run):
    workdir, data, config, _, _ = run
    for model in MODELS:
        for video in ("crossing", "fast-ball", "twins"):
            folder = workdir / "results" / "masks" / model / video
            files = sorted(folder.glob("*.png"))
            assert [p.stem for p in files] == [f"{i:05d}" for i in range(10)]
            annotation = data / "Annotations" / video / "00000.png"
            assert np.array_equal(read_label_map(files[0]), read_label_map(annotation))
            with Image.open(files[5]) as image:
                assert image.mode == "P" and image.size == (320, 180)
            assert read_palette(files[5]) == read_palette(annotation)
            assert (workdir / "results" / "logs" / "infer" / model / f"{video}.log").is_file()
            assert (workdir / "results" / "benchmarks" / "infer" / model / f"{video}.tsv").is_file()


def test_every_stage_wrote_its_table(run):
    workdir, data, _, _, result = run
    results = workdir / "results"
    boxes = pd.read_csv(results / "boxes" / "twins.csv", dtype={"frame": str})
    assert sorted(set(boxes["model"])) == sorted(MODELS)  # every voter (pgmr.models empty)
    boxes = boxes[boxes["model"] == "flow"].drop(columns="model")
    assert len(boxes) == 10 * 2 and set(boxes["object"]) == {1, 2}
    fused = pd.read_csv(results / "fused" / "twins.csv", dtype={"frame": str})
    assert len(fused) == 20 and fused["voters"].eq(4).all()
    assert len(list((results / "pseudo" / "twins").glob("*.png"))) == 10
    scores = pd.read_csv(results / "scores" / "twins.csv")
    assert set(scores["reference"]) == {"pseudo", "gt"} and len(scores) == 2 * 4 * 2
    # the gt rows are the official J&F of each model's masks
    from stseg.metrics import score_video

    direct = score_video(data / "Annotations" / "twins", results / "masks" / "flow" / "twins").rows()
    mine = scores[(scores.reference == "gt") & (scores.model == "flow")].sort_values("object")
    assert mine["JF"].tolist() == [row["JF"] for row in direct]
    selection = pd.read_csv(results / "selection" / "twins.csv")
    assert selection[(selection.level == "video")]["chosen"].sum() == 1
    # the choice: the best selection score, unless the dataset prior's model is within the margin of it
    level = selection[selection.level == "video"].set_index("model")
    chosen = level[level.chosen == 1].index.item()
    prior = pd.read_csv(results / "prior.csv")
    prior_model = prior[prior.chosen == 1]["model"].item()
    best = level["score"].idxmax()
    assert chosen == (best if level.loc[best, "score"] >= 1.25 * level.loc[prior_model, "score"] else prior_model)
    pseudo = scores[scores.reference == "pseudo"].groupby("model")[["JF", "edge"]].mean()
    expected_score = pseudo["JF"] * (pseudo["edge"] / pseudo["edge"].max()) ** 2
    assert np.allclose(level.loc[pseudo.index, "score"], expected_score)
    # the final masks (the fusion, the default): the chosen model's, less the regions the fusion removed, as the
    # outcome counts them
    from stseg.masks import read_label_map

    outcome = pd.read_csv(results / "outcome" / "twins.csv")
    fused = outcome[outcome.strategy == "fuse"]
    assert fused["used"].eq(1).all() and fused["model"].eq(chosen).all()
    removed = 0
    for path in sorted((results / "final" / "twins").glob("*.png")):
        final, anchor = read_label_map(path), read_label_map(results / "masks" / chosen / "twins" / path.name)
        assert np.all((final == anchor) | (final == 0))  # nothing added, nothing relabelled
        removed += int(np.count_nonzero(final != anchor))
    assert removed == int(fused["removed"].sum())


def test_summary_and_submission(run):
    workdir, data, _, _, result = run
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    assert len(summary) == 3 * 4 and summary.groupby("video")["chosen_video"].sum().eq(1).all()
    overall = pd.read_csv(workdir / "results" / "summary_overall.csv").set_index("method")
    assert overall.loc["oracle:video", "JF"] >= overall.loc["selection:video", "JF"]
    assert overall.loc["oracle:video", "JF"] >= overall.loc[list(MODELS), "JF"].max()
    assert "Overall (mean over all objects" in result.stdout + result.stderr
    expected = {
        video: ([f"{i:05d}" for i in range(10)], (320, 180), (1, 2, 3) if video == "crossing" else (1, 2) if video == "twins" else (1,))
        for video in ("crossing", "fast-ball", "twins")
    }
    check_submission(workdir / "results" / "submission.zip", expected)


def test_second_run_has_nothing_to_do_and_inputs_are_untouched(run):
    workdir, data, config, before, _ = run
    result = snakemake(workdir, config, "--cores", "2", "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr
    assert tree_digest(data) == before


def test_changing_one_models_option_reruns_only_its_jobs(run):
    workdir, data, config, _, _ = run
    changed = {**config, "models": {**MODELS, "flow": {"type": "flow", "options": {"scale": 0.5, "preset": "ultrafast"}}}}
    result = snakemake(workdir, changed, "--dry-run")
    assert job_counts(result.stdout) == {
        "infer": 3, "fuse": 3, "pseudolabel": 3, "score": 3, "prior": 1, "select": 3,
        "summarize": 1, "submission": 1, "overlay": 3, "calibration": 1, "scores_plot": 1, "report_summary": 1, "all": 1,
    }
    assert re.search(r"output: \S*masks/copy/", result.stdout) is None
    assert re.search(r"output: \S*masks/flow/twins", result.stdout)


def test_unknown_model_is_refused_with_the_known_ones(run, tmp_path):
    _, data, config, _, _ = run
    bad = {**config, "results": str(tmp_path / "results"), "models": {"cutie2": {}}}
    result = snakemake(tmp_path, bad, "--dry-run", check=False)
    assert result.returncode != 0
    known = "appearance, copy, copy-foreground, cutie, edgetam, flow, global"
    assert f"unknown model type 'cutie2'; known models: {known}" in result.stderr + result.stdout


def test_schema_violation_is_refused(run, tmp_path):
    _, data, config, _, _ = run
    bad = {**config, "results": str(tmp_path / "results"), "pgmr": {"threshold": 2}}
    result = snakemake(tmp_path, bad, "--dry-run", check=False)
    assert result.returncode != 0
    assert "threshold" in result.stderr + result.stdout


def test_invalid_video_is_reported_before_any_job(run, tmp_path):
    _, data, config, _, _ = run
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    (broken / "JPEGImages" / "twins" / "00004.jpg").unlink()
    bad = {**config, "dataset": {"root": str(broken)}, "results": str(tmp_path / "results")}
    result = snakemake(tmp_path, bad, "--cores", "1", check=False)
    assert result.returncode != 0
    assert f"{broken}/JPEGImages/twins: frames are not contiguous: missing 00004.jpg" in result.stderr + result.stdout
    assert not (tmp_path / "results" / "masks").exists()
    skip = {**bad, "dataset": {"root": str(broken), "on_invalid": "skip"}}
    counts = job_counts(snakemake(tmp_path, skip, "--dry-run").stdout)
    assert counts["infer"] == 2 * 4


def test_lint_is_clean(run):
    workdir, _, config, _, _ = run
    result = snakemake(workdir, config, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


# ---------------------------------------------------------------- partial reruns
def test_targeting_one_videos_final_output_builds_only_what_it_needs(run, tmp_path):
    _, data, config, _, _ = run
    fresh = {**config, "results": str(tmp_path / "results")}
    result = snakemake(tmp_path, fresh, "--dry-run", f"{tmp_path}/results/final/twins")
    # the dataset prior needs every video's scores; the selection and final masks are the target's alone
    assert job_counts(result.stdout) == {"infer": 12, "fuse": 3, "pseudolabel": 3, "score": 3, "prior": 1, "select": 1}
    independent = {**fresh, "pgmr": {**fresh.get("pgmr", {}), "prior_margin": None, "fuse_reliability": "uniform"}}
    result = snakemake(tmp_path, independent, "--dry-run", f"{tmp_path}/results/final/twins")
    assert job_counts(result.stdout) == {"infer": 4, "fuse": 1, "pseudolabel": 1, "score": 1, "select": 1}


def test_adding_a_video_runs_only_its_jobs(run, small_demo, tmp_path):
    workdir, data, config, _, _ = run
    bigger = tmp_path / "data"
    shutil.copytree(data, bigger)
    from stseg.demo import write_demo

    write_demo(bigger, ["still-flicker"], width=320, height=180, max_frames=10)
    grown = {**config, "dataset": {"root": str(bigger)}}
    shutil.copytree(workdir / "results", tmp_path / "results")
    grown["results"] = str(tmp_path / "results")
    result = snakemake(tmp_path, grown, "--dry-run")
    # the new video's own jobs; the prior changes, so every video's (cheap) selection and overlay rerun
    assert job_counts(result.stdout) == {
        "infer": 4, "fuse": 1, "pseudolabel": 1, "score": 1, "prior": 1, "select": 4,
        "summarize": 1, "submission": 1, "overlay": 4, "calibration": 1, "scores_plot": 1, "report_summary": 1, "all": 1,
    }
    assert re.search(r"output: \S*masks/\w+/still-flicker", result.stdout)
    assert re.search(r"output: \S*masks/\w+/(twins|crossing|fast-ball)\b", result.stdout) is None


def test_changing_one_first_frame_annotation_reruns_only_that_video(run, tmp_path):
    workdir, data, config, _, _ = run
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    shutil.copytree(workdir / "results", tmp_path / "results")
    moved = {**config, "dataset": {"root": str(copy)}, "results": str(tmp_path / "results")}
    assert "Nothing to be done" in snakemake(tmp_path, moved, "--dry-run").stdout
    annotation = copy / "Annotations" / "twins" / "00000.png"
    labels = read_label_map(annotation)
    labels[0, 0] = 1
    from stseg.masks import write_label_map

    write_label_map(annotation, labels, read_palette(annotation))
    result = snakemake(tmp_path, moved, "--dry-run")
    assert job_counts(result.stdout) == {
        "infer": 4, "fuse": 1, "pseudolabel": 1, "score": 1, "prior": 1, "select": 3,
        "summarize": 1, "submission": 1, "overlay": 3, "calibration": 1, "scores_plot": 1, "report_summary": 1, "all": 1,
    }
    assert re.search(r"output: \S*masks/flow/crossing", result.stdout) is None


# ---------------------------------------------------------------- report
def test_report_holds_the_overlays_and_tables(run, tmp_path):
    workdir, _, config, _, _ = run
    results = workdir / "results"
    for video in ("crossing", "fast-ball", "twins"):
        with Image.open(results / "report" / "overlays" / f"{video}.png") as image:
            # 4 frames; header and object legend; 4 models + pseudo-label + final + ground truth, 180 px each
            assert image.size == (230 + 4 * 320, 30 + 30 + 7 * 180)
        small = results / "report" / "overlays" / f"{video}.jpg"
        assert small.stat().st_size <= 300_000
        with Image.open(small) as image:
            assert image.format == "JPEG" and image.size == (round(0.75 * (230 + 4 * 320)), round(0.75 * 1320))
    page = (results / "report" / "summary.html").read_text()
    for needle in ("pooled over all objects", "selection:video", "selection:vote", "oracle:video", "recovered",
                   "per video and model", "data:image/png;base64,", "onclick="):
        assert needle in page
    report = tmp_path / "report.html"
    snakemake(workdir, config, "--report", str(report))
    html = report.read_text(errors="replace")
    for needle in ("crossing.jpg", "fast-ball.jpg", "twins.jpg", "calibration.png", "scores.png", "summary.csv",
                   "summary.html"):
        assert needle in html
    # the full-size strips stay on disk: the report holds the small copies (base64), about 4/3 of their bytes
    smalls = sum((results / "report" / "overlays" / f"{v}.jpg").stat().st_size for v in ("crossing", "fast-ball", "twins"))
    fulls = sum((results / "report" / "overlays" / f"{v}.png").stat().st_size for v in ("crossing", "fast-ball", "twins"))
    assert smalls * 4 / 3 < report.stat().st_size < fulls


#: measures the first page once it is drawn (the workflow diagram is drawn by a script): the boxes of the headline,
#: each table and figure of the summary and the diagram, in the window's coordinates, as JSON in the page
MEASURE = """<script>
var stsegTries = 0;
function stsegMeasure() {
  function box(el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
  var graph = document.querySelector("#rulegraph svg, #rulegraph canvas");
  if ((!graph || !document.getElementById("stseg-summary")) && ++stsegTries < 150) { setTimeout(stsegMeasure, 200); return; }
  var found = {window: [window.innerWidth, window.innerHeight], parts: {}};
  var headline = document.getElementById("stseg-headline");
  if (headline) found.headline = box(headline);
  if (graph) found.graph = box(graph);
  document.querySelectorAll("#stseg-summary .stseg-table, #stseg-summary img").forEach(function (el, i) {
    found.parts[el.id || el.tagName + i] = box(el);
  });
  var out = document.createElement("pre"); out.id = "stseg-layout"; out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
}
window.addEventListener("load", function () { setTimeout(stsegMeasure, 500); });
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("the report's layout is checked in headless Chromium: install chromium (apt install chromium) to run it")


def first_page_layout(report: Path, width: int, height: int) -> dict:
    """The first page's layout in headless Chromium at ``width`` x ``height``."""
    import json
    import subprocess

    measured = report.with_name(f"measured-{width}x{height}.html")
    page, end = report.read_text(errors="replace").rsplit("</body>", 1)
    measured.write_text(page + MEASURE + "</body>" + end)
    dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--virtual-time-budget=60000", f"--window-size={width},{height}", "--dump-dom",
                          measured.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="stseg-layout">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def test_the_reports_first_page_in_a_browser(run, tmp_path):
    """`snakemake --report` as the user guide writes it, opened in headless Chromium: at 1400x900 the headline and
    the pooled table are on the first screen (not cut at the top); at 1400x900 and 1400x1800 the workflow diagram
    overlaps no table or figure of the summary."""
    workdir, _, config, _, _ = run
    report = tmp_path / "report.html"
    snakemake(workdir, config, "--report", str(report))
    for width, height in ((1400, 900), (1400, 1800)):
        layout = first_page_layout(report, width, height)
        fold = layout["window"][1]  # the window's inner height (its frame takes some of `height`)
        assert layout["window"][0] == width and height - 150 < fold <= height, layout
        graph = layout["graph"]
        assert graph[2] - graph[0] > 50 and graph[3] - graph[1] > 200, layout  # the diagram was drawn
        assert graph[1] >= 0, (width, height, graph)  # from the top of the page, not cut
        assert len(layout["parts"]) >= 3, layout
        for name, part in layout["parts"].items():
            assert overlap(part, graph) == 0, (width, height, name, part, graph)
        headline, pooled = layout["headline"], layout["parts"]["stseg-pooled"]
        assert 0 <= headline[1] < headline[3] <= pooled[1] < pooled[3] <= fold, (width, height, layout)


def test_calibration_is_computed_from_the_summary(run):
    from stseg.report import kendall_tau

    workdir, _, _, _, _ = run
    summary = pd.read_csv(workdir / "results" / "summary.csv")
    table = pd.read_csv(workdir / "results" / "report" / "calibration.csv")
    for row in table.itertuples():
        group = summary[summary.video == row.video]
        chosen = group[group.chosen_video == 1].iloc[0]
        assert row.chosen == chosen.model
        assert row.regret == pytest.approx(group.gt_JF.max() - chosen.gt_JF)
        assert row.tau == pytest.approx(kendall_tau(group.pseudo_JF, group.gt_JF))
    log = (workdir / "results" / "logs" / "calibration.log").read_text()
    hits = int((table.regret <= 0).sum())
    assert f"picked the truly best model on {hits} of 3 videos" in log


def test_the_readmes_validate_and_evaluate_commands(run):
    """`stseg validate <dataset>` and `stseg evaluate --gt <dataset>/Annotations --pred <results>/final`, as the
    README and the user guide write them (relative paths from the folder that holds both)."""
    import subprocess
    import sys

    workdir, data, _, _, _ = run
    stseg = [sys.executable, "-m", "stseg.cli"]
    validated = subprocess.run([*stseg, "validate", "data"], cwd=workdir, capture_output=True, text=True)
    assert validated.returncode == 0 and "twins" in validated.stdout, validated.stderr
    scored = subprocess.run([*stseg, "evaluate", "--gt", "data/Annotations", "--pred", "results/final"], cwd=workdir,
                            capture_output=True, text=True)
    assert scored.returncode == 0, scored.stderr
    pooled = next(line for line in scored.stdout.splitlines() if line.startswith("all objects (pooled)"))
    overall = pd.read_csv(workdir / "results" / "summary_overall.csv").set_index("method")
    assert float(pooled.split()[-2]) == pytest.approx(overall.loc["selection:fuse", "JF"], abs=5e-5)  # the final masks'
