"""stseg.lifecycle: the lock, whose results folder, the last good outputs, stale descriptions, the failure report."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stseg.lifecycle import (
    DATASET,
    NOT_FINISHED,
    WAITING_FOR_FAILED_PRIOR,
    ResultsFolderError,
    ResultsInUseError,
    check_results_folder,
    described_videos,
    failed_job_logs,
    failure_report,
    format_failures,
    keep_last_good,
    lock_results,
    rescue_last_good,
    set_aside_stale,
    settle_last_good,
    snakemake_job_errors,
    sweep_partials,
)
from stseg.stamps import TIMESTAMP


def stamped(folder: Path, when: int) -> None:
    os.utime(folder, ns=(when, when))
    (folder / TIMESTAMP).touch()
    os.utime(folder / TIMESTAMP, ns=(when, when))


def test_a_second_run_on_one_results_folder_is_refused(tmp_path):
    held = lock_results(tmp_path)
    try:
        with pytest.raises(ResultsInUseError, match=f"is in use by another run \\(pid {os.getpid()}"):
            lock_results(tmp_path)
    finally:
        held.close()
    lock_results(tmp_path).close()  # released with the process's file


def test_a_results_folder_stseg_did_not_make_is_refused(tmp_path):
    check_results_folder(tmp_path / "new")  # absent: fine
    (tmp_path / "empty").mkdir()
    check_results_folder(tmp_path / "empty")
    foreign = tmp_path / "foreign"
    (foreign / "stale").mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ResultsFolderError, match="is not empty \\(notes.txt, stale\\) and was not made by stseg"):
        check_results_folder(foreign)
    (foreign / ".stseg").mkdir()  # one stseg made (its state folder)
    check_results_folder(foreign)


def test_partials_of_dead_writers_are_swept_the_live_ones_kept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / f".twins.{pid}.partial").mkdir()  # a killed selection's answer and its candidates
    (tmp_path / f".twins.{pid}.partial" / ".candidates").mkdir()
    (tmp_path / f".summary.csv.{pid}.partial").write_text("half")
    (tmp_path / f".mine.{os.getpid()}.partial").mkdir()  # this process's: alive
    (tmp_path / "twins").mkdir()
    removed = sweep_partials([tmp_path, tmp_path / "absent"])
    assert sorted(p.name for p in removed) == sorted([f".twins.{pid}.partial", f".summary.csv.{pid}.partial"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".mine.{os.getpid()}.partial", "twins"])


def test_dataset_outputs_describing_removed_or_newer_masks_are_set_aside(tmp_path):
    import csv
    import zipfile

    results = tmp_path / "results"
    masks = {v: results / "masks" / "m" / v for v in ("a", "b")}
    for folder in masks.values():
        folder.mkdir(parents=True)
        stamped(folder, 2 * 10**18)
    summary, submission = results / "summary.csv", results / "submission.zip"
    with open(summary, "w", newline="") as table:
        csv.writer(table).writerows([["video", "model"], ["a", "m"]])
    with zipfile.ZipFile(submission, "w") as archive:
        archive.writestr("b/00000.png", b"")
    for path in (summary, submission):
        os.utime(path, ns=(3 * 10**18, 3 * 10**18))
    assert described_videos(summary, submission) == {"a", "b"}
    outputs = [summary, submission, results / "never-written.png"]
    stale = results / "stale"
    assert set_aside_stale(outputs, {"a", "b"}, lambda v: [masks[v]], stale) == []  # all older: current
    os.utime(masks["b"] / TIMESTAMP, ns=(4 * 10**18, 4 * 10**18))  # remade after the zip, the run then stopped
    assert set_aside_stale(outputs, {"a", "b"}, lambda v: [masks[v]], stale) == [stale / "summary.csv", stale / "submission.zip"]
    assert not summary.exists() and (stale / "submission.zip").is_file()
    (stale / "summary.csv").rename(summary)
    os.utime(masks["b"] / TIMESTAMP, ns=(2 * 10**18, 2 * 10**18))
    shutil.rmtree(masks["a"])  # removed by Snakemake before a job that then failed
    assert set_aside_stale([summary], {"a", "b"}, lambda v: [masks[v]], stale) == [stale / "summary.csv"]


def test_the_last_good_outputs_are_kept_until_the_run_ends(tmp_path):
    results = tmp_path / "results"
    masks = results / "masks" / "m" / "v"
    masks.mkdir(parents=True)
    (masks / "00000.png").write_bytes(b"old mask")
    (results / "summary.csv").write_text("old summary")
    kept = keep_last_good(results, [masks, results / "summary.csv", results / "never-made.csv", tmp_path / "outside"])
    assert kept == [Path("masks/m/v"), Path("summary.csv")]
    assert (masks / "00000.png").read_bytes() == b"old mask"  # still in place: kept as hard links
    shutil.rmtree(masks)  # as Snakemake does before the job, which then fails
    (results / "summary.csv").unlink()
    (results / "summary.csv").write_text("new summary")  # this one's job finished
    moved = settle_last_good(results, kept, failed=True)
    assert moved == [results / "stale" / "masks" / "m" / "v"]
    assert (results / "stale" / "masks" / "m" / "v" / "00000.png").read_bytes() == b"old mask"
    assert (results / "summary.csv").read_text() == "new summary" and not (results / ".stseg" / "last-good").exists()
    kept = keep_last_good(results, [results / "summary.csv"])
    assert settle_last_good(results, kept, failed=False) == [] and (results / "summary.csv").read_text() == "new summary"




def test_the_last_good_outputs_under_a_symlinked_folder_are_the_results_folders(tmp_path):
    # results/final is a symlink to a folder elsewhere (another disk): its outputs are kept, and a failing run puts
    # them in stale/ as it says
    results, elsewhere = tmp_path / "results", tmp_path / "other-disk" / "final"
    (elsewhere / "v").mkdir(parents=True)
    (elsewhere / "v" / "00000.png").write_bytes(b"last good answer")
    results.mkdir()
    (results / "final").symlink_to(elsewhere)
    kept = keep_last_good(results, [results / "final" / "v"])
    assert kept == [Path("final/v")]
    shutil.rmtree(results / "final" / "v")  # as Snakemake does before the job, which then fails
    moved = settle_last_good(results, kept, failed=True)
    assert moved == [results / "stale" / "final" / "v"]
    assert (results / "stale" / "final" / "v" / "00000.png").read_bytes() == b"last good answer"


def test_a_killed_runs_last_good_outputs_are_rescued_by_the_next(tmp_path):
    results = tmp_path / "results"
    (results / "final" / "v").mkdir(parents=True)
    (results / "final" / "v" / "00000.png").write_bytes(b"answer")
    (results / "final" / "w").mkdir()
    keep_last_good(results, [results / "final" / "v", results / "final" / "w"])
    shutil.rmtree(results / "final" / "v")  # its job started, then the run was killed (no settle)
    assert rescue_last_good(results) == [results / "stale" / "final" / "v"]
    assert (results / "stale" / "final" / "v" / "00000.png").read_bytes() == b"answer"
    assert (results / "final" / "w").is_dir() and not any((results / ".stseg" / "last-good").iterdir())


def test_failed_job_logs_are_read_from_snakemakes_own_log(tmp_path):
    log = tmp_path / "snakemake.log"
    log.write_text("Building DAG of jobs...\nError in rule infer:\n    jobid: 3\n"
                   "    log: results/logs/infer/flow/v1.log (check log file(s) for error details)\n"
                   "    shell:\n        stseg infer ...\nShutting down\n")
    assert [str(p) for p in failed_job_logs(log)] == ["results/logs/infer/flow/v1.log"]
    assert failed_job_logs(None) == [] and failed_job_logs(tmp_path / "absent.log") == []


def test_failure_report_names_the_stage_and_the_error_line(tmp_path):
    results = tmp_path / "results"
    log = results / "logs" / "infer" / "flow" / "v1.log"
    log.parent.mkdir(parents=True)
    log.write_text("reading frames\nstseg infer: error: v1/00003.jpg: cannot decode this JPEG\n")
    report = failure_report(results, ["v1", "v2"], failed_logs=[log])
    rows = report.set_index("video")
    assert rows.loc["v1", "stage"] == "infer/flow"
    assert rows.loc["v1", "reason"] == "stseg infer: error: v1/00003.jpg: cannot decode this JPEG"
    assert rows.loc["v2", "reason"] == NOT_FINISHED


#: Snakemake's own words when it fails a job after it ran (copied from a run whose frames were dated a day ahead)
SKEW_LOG = "\n".join([
    'Select jobs to execute...',
    'WorkflowError in rule infer in file "/work/main/rules/inference.smk", line 21:',
    'Output results/masks/flow/v1 has older modification time (2026-12-07 21:47:22.037031) than inpu'
    't data/JPEGImages/v1 (2026-12-08 21:47:14.283211). This could indicate a clock skew problem in '
    'your network and would trigger a rerun of this job in the next execution and should therefore b'
    'e fixed on system level. System time: 2026-12-07 21:47:22.037212 (rule infer, line 21, /work/ma'
    'in/rules/inference.smk)',
    'Removing output files of failed job infer since they might be corrupted:',
    'results/masks/flow/v1, results/resources/flow/v1.json',
    'MissingOutputException in rule prior in file "/work/main/rules/pgmr.smk", line 148:',
    'Job 17 completed successfully, but some output files are missing. Missing files after 60 second'
    's. This might be due to filesystem latency. If that is the case, consider to increase the wait '
    'time with --latency-wait:',
    '/scratch/results/prior.csv',
    'Shutting down, this might take some time.',
    '',
])


def test_jobs_snakemake_failed_after_they_ran_are_named_for_their_video(tmp_path):
    log = tmp_path / "snakemake.log"
    log.write_text(SKEW_LOG)
    errors = snakemake_job_errors(log)
    assert [rule for rule, _ in errors] == ["infer", "prior"]
    assert errors[0][1].startswith("Output results/masks/flow/v1 has older modification time")
    assert errors[1][1].endswith("--latency-wait: /scratch/results/prior.csv")
    results = tmp_path / "results"
    (results / "logs" / "infer" / "flow").mkdir(parents=True)
    (results / "logs" / "infer" / "flow" / "v1.log").write_text("flow: 10 frames in 1.00 s\n")  # the job's own log: fine
    report = failure_report(results, ["v1", "v10"], [], job_errors=errors).set_index("video")
    assert report.loc["v1", "stage"] == "infer" and "clock skew" in report.loc["v1", "reason"]
    assert report.loc["v10", "reason"] == NOT_FINISHED  # 'v1' in a path does not name v10
    assert report.loc[DATASET, "stage"] == "prior" and "Missing files after 60 seconds" in report.loc[DATASET, "reason"]
    text = format_failures(report.reset_index(), 2)
    assert text.splitlines()[0].startswith("the prior job (of the whole dataset) failed: Job 17 completed")
    assert "1 of 2 video(s) failed; 1 did not finish:" in text


def test_a_failed_prior_is_named_and_the_videos_wait_for_it(tmp_path):
    results = tmp_path / "results"
    log = results / "logs" / "prior.log"
    log.parent.mkdir(parents=True)
    log.write_text("stseg prior: error: results/scores/v1.csv: not a scores table\n")
    for video in ("v1", "v2"):
        (results / "scores").mkdir(exist_ok=True)
        (results / "scores" / f"{video}.csv").write_text("model,j\n")
    report = failure_report(results, ["v1", "v2"], [log])
    assert list(report["video"]) == [DATASET, "v1", "v2"]
    assert report.iloc[0]["stage"] == "prior" and report.iloc[0]["reason"].endswith("not a scores table")
    assert set(report.iloc[1:]["reason"]) == {WAITING_FOR_FAILED_PRIOR}
    text = format_failures(report, 2)
    assert "no video's own job failed; 2 of 2 wait for the dataset prior:" in text


def test_a_slurm_jobs_own_log_beside_the_jobs_is_no_row_of_its_own(tmp_path):
    """On SLURM a failed job's block names the job's log and the SLURM job's log (``.snakemake/slurm_logs/...``):
    the video's row comes from the job's log; the executor's log is no job of the dataset."""
    results = tmp_path / "results"
    job_log = results / "logs" / "infer" / "mine" / "v1.log"
    job_log.parent.mkdir(parents=True)
    job_log.write_text("stseg infer: error: brought/v1/00005.png: cannot decode this PNG\n")
    slurm_log = tmp_path / ".snakemake" / "slurm_logs" / "rule_infer" / "mine_v1" / "17.log"
    slurm_log.parent.mkdir(parents=True)
    slurm_log.write_text("Error in rule infer:\n")
    log = tmp_path / "snakemake.log"
    log.write_text("Error in rule infer:\n"
                   "    message: SLURM-job '17' failed, SLURM status is: 'FAILED'.\n"
                   "    jobid: 25\n"
                   f"    log: {job_log}, {slurm_log} (check log file(s) for error details)\n"
                   "    external_jobid: 17\n")
    report = failure_report(results, ["v1", "v2"], failed_job_logs(log))
    assert list(report["video"]) == ["v1", "v2"], report.to_dict()
    assert report.iloc[0]["stage"] == "infer/mine" and report.iloc[0]["reason"].endswith("cannot decode this PNG")
