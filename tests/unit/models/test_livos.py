"""stseg.models.livos: the driver at its defaults gives the masks of LiVOS's own evaluation script.

Needs a checkout (``STSEG_LIVOS_REPO``); the test skips with the reason without one.
"""

from __future__ import annotations

import pytest
from helpers import (
    assert_equals_eval_script,
)

pytest.importorskip("torch", reason="torch is not installed (the livos driver needs it)")


@pytest.mark.slow
def test_defaults_give_the_masks_of_the_evaluation_script(hd_clip, tmp_path):
    assert_equals_eval_script("livos", hd_clip, tmp_path)
