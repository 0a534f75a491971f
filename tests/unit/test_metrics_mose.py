"""MOSE J&Ḟ equals MOSEv2's official scorer (henghuiding/MOSE-api ``score.py``), per frame, per object and pooled.

With a checkout named by ``STSEG_MOSE_API_REPO`` the official functions run here
beside stseg; without it the values that code produced (``tests/data/mose_reference.csv``,
written by ``python tests/mose_cases.py CHECKOUT``) are the reference.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import (
    REPO,
    SHARED_DATA,
)
from mose_cases import REFERENCE, official_rows, write_davis, write_edges

from stseg.metrics import disk, evaluate, mose_boundary_radius, score_video


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> tuple[Path, bool]:
    root = tmp_path_factory.mktemp("mose")
    write_edges(root)
    davis = SHARED_DATA / "davis-fullgt"
    has_davis = (davis / "Annotations").is_dir()
    if has_davis:
        write_davis(root, davis)
    return root, has_davis


def stseg_rows(root: Path) -> list[dict]:
    rows = []
    for video_dir in sorted((root / "gt").iterdir()):
        scores = score_video(video_dir, root / "pred" / video_dir.name, video_dir.name, "mose")
        for k, obj in enumerate(scores.objects):
            for t in range(len(scores.frames)):
                rows.append({"video": video_dir.name, "object": obj, "frame": t + 1, "J": scores.j[k, t], "F": scores.f[k, t]})
        for row in scores.rows():
            rows.append({"video": row["video"], "object": row["object"], "frame": -1, "J": row["J"], "F": row["F"],
                         **{f"{p}_{m}": row[f"{p}_{m}"] for p in ("disappear", "reappear") for m in ("J", "F")}})
    return rows


def compare(ours: pd.DataFrame, official: pd.DataFrame) -> None:
    keys = ["video", "object", "frame"]
    merged = official.merge(ours, on=keys, suffixes=("_official", "_stseg"), how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys]
    for column in ["J", "F", "disappear_J", "disappear_F", "reappear_J", "reappear_F"]:
        a, b = merged[f"{column}_official"].to_numpy(float), merged[f"{column}_stseg"].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), column
        worst = np.nanmax(np.abs(a - b)) if np.isfinite(a).any() else 0.0
        assert worst <= 1e-9, f"{column}: differs by up to {worst} from the official scorer"


def test_equals_the_official_scorer_run_here(cases):
    checkout = os.environ.get("STSEG_MOSE_API_REPO")
    if not checkout:
        pytest.skip("no MOSE-api checkout: set STSEG_MOSE_API_REPO to a clone of henghuiding/MOSE-api "
                    "(the stored reference values are checked by the next test)")
    root, _ = cases
    official = pd.DataFrame(official_rows(Path(checkout) / "MOSEv2" / "sam2_rcms" / "tools", root))
    compare(pd.DataFrame(stseg_rows(root)), official)


def test_equals_the_stored_official_values(cases):
    root, has_davis = cases
    official = pd.read_csv(REFERENCE)
    if not has_davis:
        official = official[official["video"] == "edges"]
    compare(pd.DataFrame(stseg_rows(root)), official)
    if not has_davis:
        pytest.skip(f"real DAVIS videos absent ({SHARED_DATA / 'davis-fullgt'}); only the generated edge cases were compared")


def test_the_cap_footprint_is_scikit_images():
    cap = mose_boundary_radius(10**6, 480, 854)
    assert cap == 0.008 * np.linalg.norm((480, 854))
    kernel = disk(cap)
    assert kernel.shape == (17, 17) and int(kernel.sum()) == 191  # not the centred 15x15, 193-pixel disk
    morphology = pytest.importorskip("skimage.morphology")
    assert np.array_equal(kernel, morphology.disk(cap))
    assert mose_boundary_radius(400, 480, 854) == 2.0
    assert mose_boundary_radius(0, 480, 854) == cap


def test_evaluate_reports_the_disappearance_breakdown(cases, tmp_path):
    root, _ = cases
    table = evaluate(root / "gt", root / "pred", ["edges"], "mose")
    official = pd.read_csv(REFERENCE)
    official = official[(official["video"] == "edges") & (official["frame"] == -1)]
    assert np.allclose(table["disappear_J"].to_numpy(float), official["disappear_J"].to_numpy(float), equal_nan=True, atol=1e-12)
    out = subprocess.run(
        [sys.executable, "-m", "stseg.cli", "evaluate", "--gt", str(root / "gt"), "--pred", str(root / "pred"),
         "--videos", "edges", "--variant", "mose"],
        capture_output=True, text=True, cwd=REPO, check=True,
    ).stdout
    pooled_j = official["J"].mean()
    pooled_f = official["F"].mean()
    disappear = (official["disappear_J"].mean() + official["disappear_F"].mean()) / 2  # NaN rows skipped, as the official lists
    assert f"{(pooled_j + pooled_f) / 2:8.4f}" in out
    assert f"disappearance J&Ḟ {disappear:.4f}" in out
