"""Pictures for the Snakemake report: per-video overlay strips and the selection calibration plot.

* :func:`overlay_strip`: for a few evenly spaced frames of one video, a grid with
  one row per model (its masks over the frame), a row for the pseudo-label with
  the average-fused (green) and max-fused (yellow) boxes, and a row for the final
  masks; each row is labelled with the model's pseudo-label J&F (and true J&F)
  and marks the chosen model, as in STSeg's Figure 3.
* :func:`scores_plot`: per video, every model's J&F against the pseudo-labels
  (and against the ground truth when there is some), the chosen one outlined.
* :func:`calibration_plot`: pseudo-label J&F against true J&F per (video, model),
  with Kendall's τ-b, and per video the regret of the choice (true J&F of the
  best model minus that of the chosen one), from ``summary.csv``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from .masks import atomic_path, read_label_map, read_palette

__all__ = ["overlay_strip", "kendall_tau", "calibration_plot", "calibration_table", "scores_plot"]

THUMB_WIDTH = 320
LABEL_WIDTH = 230


def _overlay(frame: np.ndarray, labels: np.ndarray, palette: Sequence[int]) -> np.ndarray:
    colours = np.array(palette, dtype=np.float32).reshape(-1, 3)[:, ::-1]  # RGB palette -> BGR
    out = frame.astype(np.float32)
    mask = labels > 0
    out[mask] = 0.45 * out[mask] + 0.55 * colours[labels[mask]]
    edges = cv2.morphologyEx(labels, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    out[edges] = 255
    return out.astype(np.uint8)


def _thumb(image: np.ndarray) -> np.ndarray:
    scale = THUMB_WIDTH / image.shape[1]
    return cv2.resize(image, (THUMB_WIDTH, int(round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)


def _label_cell(lines: Sequence[str], height: int, chosen: bool) -> np.ndarray:
    cell = np.full((height, LABEL_WIDTH, 3), 40 if not chosen else 70, np.uint8)
    if chosen:
        cell[:, :6] = (0, 200, 0)
    for i, line in enumerate(lines):
        cv2.putText(cell, line, (12, 28 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return cell


def overlay_strip(
    frames_dir: str | os.PathLike[str],
    rows: Mapping[str, str | os.PathLike[str]],
    captions: Mapping[str, Sequence[str]],
    chosen: str,
    out: str | os.PathLike[str],
    fused: pd.DataFrame | None = None,
    boxes_row: str = "pseudo-label",
    samples: int = 4,
) -> None:
    """Write one video's overlay grid (rows: label -> mask folder) as a PNG."""
    frames_dir = Path(frames_dir)
    files = sorted((p for p in frames_dir.glob("*.jpg")), key=lambda p: int(p.stem))
    picks = sorted({int(round(i)) for i in np.linspace(1, len(files) - 1, min(samples, len(files) - 1))})
    first_row = next(iter(rows.values()))
    palette = read_palette(Path(first_row) / f"{files[0].stem}.png")
    grid = []
    for name, folder in rows.items():
        cells = []
        for index in picks:
            frame = cv2.imread(str(files[index]))
            labels = read_label_map(Path(folder) / f"{files[index].stem}.png", allow_greyscale=True)
            cell = _overlay(frame, labels, palette)
            if name == boxes_row and fused is not None:
                for row in fused[(fused["frame"] == files[index].stem) & (fused["kept"] == 1)].itertuples():
                    cv2.rectangle(cell, (int(row.max_x0), int(row.max_y0)), (int(row.max_x1) - 1, int(row.max_y1) - 1), (0, 220, 255), 2)
                    cv2.rectangle(cell, (int(row.avg_x0), int(row.avg_y0)), (int(row.avg_x1) - 1, int(row.avg_y1) - 1), (0, 255, 0), 2)
            cells.append(_thumb(cell))
        row_image = np.concatenate(cells, axis=1)
        label = _label_cell(captions.get(name, [name]), row_image.shape[0], name == chosen)
        grid.append(np.concatenate([label, row_image], axis=1))
    header = np.full((30, grid[0].shape[1], 3), 255, np.uint8)
    for i, index in enumerate(picks):
        cv2.putText(header, f"frame {files[index].stem}", (LABEL_WIDTH + i * THUMB_WIDTH + 8, 21),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    image = np.concatenate([header, *grid], axis=0)
    ok, data = cv2.imencode(".png", image)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data.tobytes())


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b (ties in either variable accounted for); NaN with fewer than two pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return float("nan")
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    concordance = (dx * dy)[upper].sum()
    tied_x = (dx[upper] == 0).sum()
    tied_y = (dy[upper] == 0).sum()
    pairs = len(upper[0])
    denominator = np.sqrt((pairs - tied_x) * (pairs - tied_y))
    return float(concordance / denominator) if denominator > 0 else float("nan")


def calibration_table(per_video: pd.DataFrame) -> pd.DataFrame:
    """Per video: chosen model, truly best model, regret, and τ between pseudo and true J&F."""
    rows = []
    for video, group in per_video.groupby("video", sort=False):
        chosen = group[group["chosen_video"] == 1].iloc[0]
        best = group.loc[group["gt_JF"].idxmax()]
        rows.append((video, chosen["model"], best["model"], float(best["gt_JF"] - chosen["gt_JF"]),
                     kendall_tau(group["pseudo_JF"], group["gt_JF"])))
    return pd.DataFrame(rows, columns=["video", "chosen", "best", "regret", "tau"])


def calibration_plot(per_video: pd.DataFrame, out: str | os.PathLike[str]) -> dict[str, float]:
    """Scatter of pseudo-label J&F against true J&F, and the regret per video; return the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = per_video.dropna(subset=["gt_JF"])
    table = calibration_table(data)
    tau = kendall_tau(data["pseudo_JF"], data["gt_JF"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for model, group in data.groupby("model", sort=False):
        left.scatter(group["pseudo_JF"], group["gt_JF"], label=model, s=28)
    chosen = data[data["chosen_video"] == 1]
    left.scatter(chosen["pseudo_JF"], chosen["gt_JF"], facecolors="none", edgecolors="black", s=90, label="chosen")
    left.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    left.set_xlabel("J&F against the pseudo-labels")
    left.set_ylabel("J&F against the ground truth")
    left.set_title(f"per (video, model): Kendall τ = {tau:.3f}")
    left.legend(fontsize=8)
    right.bar(table["video"], table["regret"], color="tab:red")
    right.set_ylabel("regret (best true J&F − chosen's)")
    right.set_title(f"picked the best model on {int((table['regret'] <= 0).sum())} of {len(table)} videos")
    right.tick_params(axis="x", rotation=60, labelsize=8)
    figure.tight_layout()
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
    return {"tau": tau, "mean_regret": float(table["regret"].mean()), "hits": int((table["regret"] <= 0).sum()),
            "videos": len(table)}


def scores_plot(per_video: pd.DataFrame, out: str | os.PathLike[str]) -> None:
    """Per video, every model's J&F against the pseudo-labels (bars; the chosen one outlined) and the true J&F (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    videos = list(dict.fromkeys(per_video["video"]))
    models = list(dict.fromkeys(per_video["model"]))
    width = 0.8 / len(models)
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(videos) + 2), 4.5))
    for m, model in enumerate(models):
        mine = per_video[per_video["model"] == model].set_index("video").reindex(videos)
        positions = np.arange(len(videos)) + (m - (len(models) - 1) / 2) * width
        bars = axes.bar(positions, mine["pseudo_JF"], width, label=model)
        for bar, chosen in zip(bars, mine["chosen_video"].fillna(0)):
            if chosen:
                bar.set_edgecolor("black")
                bar.set_linewidth(2)
        if mine["gt_JF"].notna().any():
            axes.scatter(positions, mine["gt_JF"], color="black", s=12, zorder=3)
    axes.set_xticks(np.arange(len(videos)), videos, rotation=45, ha="right", fontsize=8)
    axes.set_ylabel("J&F against the pseudo-labels (bars)\nagainst the ground truth (dots)")
    axes.set_ylim(0, 1.05)
    axes.set_title("every model per video; the chosen model's bar is outlined")
    axes.legend(fontsize=8, ncols=min(4, len(models)))
    figure.tight_layout()
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)
