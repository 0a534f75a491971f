"""stseg.results_layout: every output's path in one place, and the results folder's lock."""

from __future__ import annotations

import pytest

from stseg.results_layout import ResultsLayout


def test_every_kind_of_output_has_one_path(tmp_path):
    paths = ResultsLayout(tmp_path)
    assert paths.masks("sam2", "v") == str(tmp_path / "masks" / "sam2" / "v")
    assert paths.masks("tmo", "v", foreground=True) == str(tmp_path / "foreground" / "tmo" / "v")
    assert paths.table("scores", "v") == str(tmp_path / "scores" / "v.csv")
    assert paths.folder("final", "v") == str(tmp_path / "final" / "v")
    assert paths.overlay("v", "jpg") == str(tmp_path / "report" / "overlays" / "v.jpg")
    assert paths.batch_record("sam2", "00001") == str(tmp_path / "batches" / "sam2" / "00001.json")
    assert paths.staged("sam2", "v") == str(tmp_path / "batches" / "sam2" / "videos" / "v")
    assert paths.request("sam2", "v") == str(tmp_path / "batches" / "sam2" / "requests" / "v.stamp")
    assert paths.chunk_record("refine", "00000") == str(tmp_path / "chunks" / "refine" / "00000.json")
    assert paths.steps_file("select", "00000") == str(tmp_path / ".stseg" / "steps" / "select" / "00000.json")
    assert paths.finetune("mose") == str(tmp_path / "finetune" / "mose" / "checkpoint.pt")
    assert paths.flow("root-1", "v") == str(tmp_path / "flow" / "root-1" / "v") and paths.prior == str(tmp_path / "prior.csv")
    assert tmp_path / "submission.zip" in paths.dataset_outputs
    with pytest.raises(ValueError, match="not a per-video table"):
        paths.table("final", "v")
    with pytest.raises(ValueError, match="not a per-video folder"):
        paths.folder("scores", "v")
