"""stseg.freshness: folder stamps of the user's folders, timestamps of the workflow's folder outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from stseg.freshness import TIMESTAMP, file_stamp, folder_stamp, refresh_output_stamps, refresh_stamp, remove_if_incomplete


def folder_with(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "video"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"frame " + name.encode())
        os.utime(folder / name, ns=(10**18, 10**18))
    return folder


def test_folder_stamp_follows_the_files_not_the_folder(tmp_path):
    folder = folder_with(tmp_path, ["00000.jpg", "00001.jpg"])
    stamp = folder_stamp(folder)
    (folder / TIMESTAMP).touch()  # hidden files do not count
    assert folder_stamp(folder) == stamp
    (folder / "00001.jpg").write_bytes(b"frame 00001.jpg")  # same bytes, new mtime
    assert folder_stamp(folder) != stamp
    os.utime(folder / "00001.jpg", ns=(10**18, 10**18))
    assert folder_stamp(folder) == stamp
    (folder / "00001.jpg").write_bytes(b"an edited, longer frame")
    os.utime(folder / "00001.jpg", ns=(10**18, 10**18))  # even with its old mtime: the size moved
    assert folder_stamp(folder) != stamp
    assert folder_stamp(tmp_path / "missing") == "absent"


def stamped(folder: Path, when: int) -> None:
    os.utime(folder, ns=(when, when))
    (folder / TIMESTAMP).touch()
    os.utime(folder / TIMESTAMP, ns=(when, when))


def test_refresh_stamp_moves_to_the_newest_change_inside(tmp_path):
    folder = folder_with(tmp_path, ["00000.png", "00001.png"])
    stamped(folder, 2 * 10**18)
    assert not refresh_stamp(folder)  # nothing newer than the timestamp
    os.utime(folder / "00001.png", ns=(3 * 10**18, 3 * 10**18))  # edited in place after the run
    assert refresh_stamp(folder)
    assert (folder / TIMESTAMP).stat().st_mtime_ns == 3 * 10**18
    assert not refresh_stamp(folder)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not refresh_stamp(plain)  # no timestamp: Snakemake reads the folder's mtime itself


def test_an_incomplete_folder_is_removed_and_others_refreshed(tmp_path):
    whole = folder_with(tmp_path, ["00000.png", "00001.png", "00002.png"])
    stamped(whole, 2 * 10**18)
    os.utime(whole / "00002.png", ns=(3 * 10**18, 3 * 10**18))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "00000.png").write_bytes(b"x")
    frames = ("00000", "00001", "00002")
    assert not remove_if_incomplete(whole, frames)
    removed, moved = refresh_output_stamps([(whole, frames), (broken, frames), (tmp_path / "never-made", frames)])
    assert removed == [broken] and moved == [whole]
    assert not broken.exists() and whole.is_dir()


def test_dataset_outputs_describing_removed_or_newer_masks_are_set_aside(tmp_path):
    import csv
    import zipfile

    from stseg.freshness import described_videos, set_aside_stale

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
    from stseg.freshness import keep_last_good, prepare_last_good, settle_last_good

    results = tmp_path / "results"
    masks = results / "masks" / "m" / "v"
    masks.mkdir(parents=True)
    (masks / "00000.png").write_bytes(b"old mask")
    (results / "summary.csv").write_text("old summary")
    prepare_last_good(results)
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
    prepare_last_good(results)
    kept = keep_last_good(results, [results / "summary.csv"])
    assert settle_last_good(results, kept, failed=False) == [] and (results / "summary.csv").read_text() == "new summary"


def test_a_record_is_removed_when_an_output_it_owns_is_gone_or_incomplete_and_moved_forward_when_one_is_edited(tmp_path):
    from stseg.freshness import refresh_records

    folder = folder_with(tmp_path, ["00000.png", "00001.png"])
    table = tmp_path / "scores.csv"
    table.write_text("a,b\n")
    os.utime(table, ns=(10**18, 10**18))
    os.utime(folder, ns=(10**18, 10**18))
    record = tmp_path / "record.json"
    record.write_text('{"videos": ["v"]}')
    os.utime(record, ns=(12 * 10**17, 12 * 10**17))
    owned = [(folder, ("00000", "00001")), (table, None)]
    assert refresh_records([(record, owned)]) == ([], [])  # nothing newer than the record: left alone
    os.utime(folder / "00001.png", ns=(15 * 10**17, 15 * 10**17))  # a mask edited after the record (in 2017)
    # rewritten, not only touched: Snakemake would skip a small input whose checksum is the one it recorded
    assert refresh_records([(record, owned)]) == ([], [record])
    assert json.loads(record.read_text()) == {"videos": ["v"], "outputs_changed_ns": 15 * 10**17}
    assert refresh_records([(record, owned)]) == ([], [])
    (folder / "00001.png").unlink()  # a frame's PNG gone: the folder is incomplete, its job must run again
    assert refresh_records([(record, owned)]) == ([record], []) and not record.exists()
    record.write_text("{}")
    shutil.copy(folder / "00000.png", folder / "00001.png")
    table.unlink()
    assert refresh_records([(record, owned)]) == ([record], [])
    assert refresh_records([(record, owned)]) == ([], [])  # no record (its job has not run): nothing to do


def test_a_file_stamp_is_its_label_size_and_mtime_or_absent(tmp_path):
    path = tmp_path / "00000.png"
    path.write_bytes(b"12345")
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))
    assert file_stamp(str(path)) == f"{path}:5:2000000000"
    assert file_stamp(str(path), "00000.png") == "00000.png:5:2000000000"
    (tmp_path / "link.png").symlink_to(tmp_path / "gone.png")
    assert file_stamp(str(tmp_path / "link.png"), "link.png") == f"{tmp_path / 'link.png'}:absent"
