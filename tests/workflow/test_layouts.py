"""The job layouts give the bytes the workflow gave before (tests/layout_digests.py): the per-video layout and the
fully grouped one (4 videos per inference job and per light-stage job); that the batched and chunked layouts each
equal the per-video one is checked with 2 videos per job by tests/workflow/test_batched_inference.py and
test_chunked_stages.py."""

from __future__ import annotations

import json

import pytest
from helpers import shared_dataset
from layout_digests import LAYOUTS, STORED, run_layout

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("inference,stages", [LAYOUTS[0], LAYOUTS[-1]], ids=["1x1", "4x4"])
def test_a_layout_gives_the_stored_bytes_on_real_video(inference, stages, tmp_path):
    root = shared_dataset("davis-fullgt")
    found = run_layout(root, tmp_path / "work", inference, stages)
    stored = json.loads(STORED.read_text())
    different = sorted(k for k in stored.keys() | found.keys() if stored.get(k) != found.get(k))
    assert different == [], f"{len(different)} output(s) differ from the stored bytes, e.g. {different[:5]}"
