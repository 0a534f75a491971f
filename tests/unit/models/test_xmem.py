"""stseg.models.xmem: the driver at its defaults gives the masks of XMem's own evaluation script.

Needs a checkout (``STSEG_XMEM_REPO``); the test skips with the reason without one.
"""

from __future__ import annotations

import pytest
from helpers import (
    assert_equals_eval_script,
)

pytest.importorskip("torch", reason="torch is not installed (the xmem driver needs it)")


@pytest.mark.slow
def test_defaults_give_the_masks_of_the_evaluation_script(hd_clip, tmp_path):
    assert_equals_eval_script("xmem", hd_clip, tmp_path)


@pytest.mark.slow
def test_kept_probabilities_are_the_evaluation_scripts_scores(hd_clip, tmp_path):
    """``probabilities: true`` keeps XMem's own probabilities: the script's ``--save_scores`` output, up to rounding
    (needs hickle beside the checkout, as the script does)."""
    assert_equals_eval_script("xmem", hd_clip, tmp_path, scores=True)
