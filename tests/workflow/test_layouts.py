"""Every job layout gives the same bytes, and the bytes the workflow gave before (tests/layout_digests.py)."""

from __future__ import annotations

import json

import pytest
from helpers import shared_dataset
from layout_digests import LAYOUTS, STORED, run_layout

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("inference,stages", LAYOUTS, ids=[f"{i}x{s}" for i, s in LAYOUTS])
def test_a_layout_gives_the_stored_bytes_on_real_video(inference, stages, tmp_path):
    root = shared_dataset("davis-fullgt")
    found = run_layout(root, tmp_path / "work", inference, stages)
    stored = json.loads(STORED.read_text())
    different = sorted(k for k in stored.keys() | found.keys() if stored.get(k) != found.get(k))
    assert different == [], f"{len(different)} output(s) differ from the stored bytes, e.g. {different[:5]}"
