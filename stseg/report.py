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

from .dataset import list_frames, read_frame
from .files import atomic_path
from .masks import object_ids, read_label_map, read_palette

__all__ = ["overlay_strip", "overlay_captions", "disagreement_frames", "kendall_tau", "calibration_plot", "calibration_table",
           "scores_plot", "model_colours", "summary_page"]

THUMB_WIDTH = 320
LABEL_WIDTH = 230
#: the report's copy of an overlay strip: this scale of the full PNG, as a JPEG of this quality (<= 0.3 MB per video)
SMALL_SCALE = 0.75
SMALL_QUALITY = 80


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


def overlay_captions(masks: Sequence[str], scores: pd.DataFrame, selection: pd.DataFrame, strategy: str,
                     has_ground_truth: bool) -> tuple[str, dict[str, list[str]]]:
    """The chosen model and each row's caption lines (model: pseudo and true J&F, selection score; the
    pseudo-label, final and ground-truth rows)."""
    from .selection import chosen_models

    chosen, _ = chosen_models(selection)
    means = scores.groupby(["reference", "model"])["JF"].mean()
    level = selection[selection["level"] == "video"].set_index("model")
    captions: dict[str, list[str]] = {}
    for model in masks:
        lines = [model, f"pseudo J&F {means[('pseudo', model)]:.3f}"]
        if ("gt", model) in means.index:
            lines.append(f"true J&F {means[('gt', model)]:.3f}")
        if model in level.index and "score" in level:
            lines.append(f"selection score {level.loc[model, 'score']:.3f}")
        captions[model] = lines + (["CHOSEN"] if model == chosen else [])
    captions["pseudo-label"] = ["pseudo-label", "box: green = average", "yellow = max fusion"]
    captions["final"] = ["final masks", f"strategy: {strategy}"]
    if has_ground_truth:
        captions["ground truth"] = ["ground truth"]
    return chosen, captions


def disagreement_frames(files: Sequence[Path], mask_dirs: Mapping[str, str | os.PathLike[str]], count: int) -> list[int]:
    """``count`` frame indices (after the first) where the models disagree most, at least a few frames apart.

    Disagreement of a frame: the share of pixels labelled by some model where not
    every model gives the same label.  Frames are taken greedily, highest first,
    at least ``len(files) // (2 * count)`` frames from each other, then sorted.
    """
    scores = np.zeros(len(files))
    for index in range(1, len(files)):
        maps = [read_label_map(Path(d) / f"{files[index].stem}.png", allow_greyscale=True) for d in mask_dirs.values()]
        stack = np.stack(maps)
        labelled = (stack > 0).any(axis=0)
        differ = (stack != stack[0]).any(axis=0)
        scores[index] = np.count_nonzero(differ) / max(1, int(np.count_nonzero(labelled)))
    gap = max(1, len(files) // (2 * max(1, count)))
    picks: list[int] = []
    for index in np.argsort(-scores[1:], kind="stable") + 1:
        if len(picks) == count:
            break
        if all(abs(int(index) - p) >= gap for p in picks):
            picks.append(int(index))
    return sorted(picks)


def _legend(objects: Sequence[int], palette: Sequence[int], width: int) -> np.ndarray:
    strip = np.full((30, width, 3), 255, np.uint8)
    colours = np.array(palette, dtype=np.int64).reshape(-1, 3)
    cv2.putText(strip, "objects:", (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    x = 90
    for obj in objects:
        r, g, b = (int(c) for c in colours[obj])
        cv2.rectangle(strip, (x, 8), (x + 18, 24), (b, g, r), -1)
        cv2.putText(strip, str(obj), (x + 24, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        x += 60
    return strip


def overlay_strip(
    frames_dir: str | os.PathLike[str],
    rows: Mapping[str, str | os.PathLike[str]],
    captions: Mapping[str, Sequence[str]],
    chosen: str,
    out: str | os.PathLike[str],
    fused: pd.DataFrame | None = None,
    boxes_row: str = "pseudo-label",
    samples: int = 4,
    models: Sequence[str] = (),
    small: str | os.PathLike[str] | None = None,
) -> None:
    """Write one video's overlay grid (rows: label -> mask folder) as a PNG, and a downscaled JPEG at ``small``.

    The frames shown are those where ``models`` (rows) disagree most (:func:`disagreement_frames`;
    evenly spaced when no models are named), labelled with their frame names; a legend gives the object colours.
    """
    frames_dir = Path(frames_dir)
    files = list_frames(frames_dir)
    if models:
        picks = disagreement_frames(files, {m: rows[m] for m in models}, min(samples, len(files) - 1))
    else:
        picks = sorted({int(round(i)) for i in np.linspace(1, len(files) - 1, min(samples, len(files) - 1))})
    first_row = next(iter(rows.values()))
    annotation = read_label_map(Path(first_row) / f"{files[0].stem}.png", allow_greyscale=True)
    palette = read_palette(Path(first_row) / f"{files[0].stem}.png")
    grid = []
    for name, folder in rows.items():
        cells = []
        for index in picks:
            frame = read_frame(files[index])
            assert frame is not None, files[index]  # validated when the workflow was parsed
            labels = read_label_map(Path(folder) / f"{files[index].stem}.png", allow_greyscale=True)
            cell = _overlay(frame, labels, palette)
            if name == boxes_row and fused is not None:
                for row in fused[(fused["frame"] == files[index].stem) & (fused["kept"] == 1)].itertuples():
                    cv2.rectangle(cell, (int(row.max_x0), int(row.max_y0)), (int(row.max_x1) - 1, int(row.max_y1) - 1),
                                  (0, 220, 255), 2)
                    cv2.rectangle(cell, (int(row.avg_x0), int(row.avg_y0)), (int(row.avg_x1) - 1, int(row.avg_y1) - 1),
                                  (0, 255, 0), 2)
            cells.append(_thumb(cell))
        row_image = np.concatenate(cells, axis=1)
        label = _label_cell(captions.get(name, [name]), row_image.shape[0], name == chosen)
        grid.append(np.concatenate([label, row_image], axis=1))
    header = np.full((30, grid[0].shape[1], 3), 255, np.uint8)
    cv2.putText(header, "most disagreement:" if models else "frames:", (8, 21),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, index in enumerate(picks):
        cv2.putText(header, f"frame {files[index].stem}", (LABEL_WIDTH + i * THUMB_WIDTH + 8, 21),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    legend = _legend(object_ids(annotation), palette, grid[0].shape[1])
    image = np.concatenate([header, legend, *grid], axis=0)
    ok, data = cv2.imencode(".png", image)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data.tobytes())
    if small is not None:
        reduced = cv2.resize(image, None, fx=SMALL_SCALE, fy=SMALL_SCALE, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", reduced, [cv2.IMWRITE_JPEG_QUALITY, SMALL_QUALITY])
        with atomic_path(small) as tmp:
            tmp.write_bytes(data.tobytes())


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b (ties in either variable accounted for); NaN with fewer than two pairs."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if len(xs) < 2:
        return float("nan")
    dx = np.sign(xs[:, None] - xs[None, :])
    dy = np.sign(ys[:, None] - ys[None, :])
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


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """One colour per model, fixed by its position in the config (matplotlib's tab10 cycle)."""
    cycle = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
             "tab:olive", "tab:cyan"]
    return {model: cycle[i % len(cycle)] for i, model in enumerate(models)}


def calibration_plot(per_video: pd.DataFrame, out: str | os.PathLike[str], models: Sequence[str] = ()) -> dict[str, float]:
    """Scatter of pseudo-label J&F against true J&F, and the regret per video; return the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = per_video.dropna(subset=["gt_JF"])
    table = calibration_table(data)
    tau = kendall_tau(data["pseudo_JF"], data["gt_JF"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    colours = model_colours(list(models) or list(dict.fromkeys(per_video["model"])))
    for model, group in data.groupby("model", sort=False):
        left.scatter(group["pseudo_JF"], group["gt_JF"], label=model, s=28, color=colours[model])
    chosen = data[data["chosen_video"] == 1]
    left.scatter(chosen["pseudo_JF"], chosen["gt_JF"], facecolors="none", edgecolors="black", s=90, label="chosen")
    left.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    left.set_xlabel("J&F against the pseudo-labels", fontsize=13)
    left.set_ylabel("J&F against the ground truth", fontsize=13)
    left.set_title(f"per (video, model): Kendall τ = {tau:.3f}", fontsize=14)
    left.legend(fontsize=11)
    right.bar(table["video"], table["regret"], color="tab:red")
    right.set_ylabel("regret (best true J&F − chosen's)", fontsize=13)
    right.set_title(f"picked the best model on {int((table['regret'] <= 0).sum())} of {len(table)} videos", fontsize=14)
    right.tick_params(axis="x", rotation=60, labelsize=11)
    for axes in (left, right):
        axes.tick_params(axis="both", labelsize=11)
    figure.tight_layout()
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return {"tau": tau, "mean_regret": float(table["regret"].mean()), "hits": int((table["regret"] <= 0).sum()),
            "videos": len(table)}


def scores_plot(per_video: pd.DataFrame, out: str | os.PathLike[str], models: Sequence[str] = ()) -> None:
    """Per video, every model's J&F against the pseudo-labels (bars; the chosen one outlined) and the true J&F (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    videos = list(dict.fromkeys(per_video["video"]))
    models = list(models) or list(dict.fromkeys(per_video["model"]))
    colours = model_colours(models)
    width = 0.8 / len(models)
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(videos) + 2), 4.5))
    for m, model in enumerate(models):
        mine = per_video[per_video["model"] == model].set_index("video").reindex(videos)
        positions = np.arange(len(videos)) + (m - (len(models) - 1) / 2) * width
        bars = axes.bar(positions, mine["pseudo_JF"], width, color=colours[model])
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
    # legend entries of their own: a bar outlined as chosen must not style the model's entry
    axes.legend(handles=[Patch(facecolor=colours[m], label=m) for m in models], fontsize=8, ncols=min(4, len(models)))
    figure.tight_layout()
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)


_SORT = (
    "var t=this.closest('table'),b=t.tBodies[0],i=this.cellIndex,d=this.dataset.d==='1'?-1:1;"
    "this.dataset.d=d===1?'1':'0';"
    "Array.from(b.rows).sort(function(x,y){var p=x.cells[i].dataset.v,q=y.cells[i].dataset.v;"
    "var u=parseFloat(p),w=parseFloat(q);if(!isNaN(u)&&!isNaN(w))return d*(u-w);return d*p.localeCompare(q);})"
    ".forEach(function(r){b.appendChild(r);});"
)


#: the report's first page (Snakemake's "Workflow" view) shows ``report/workflow.rst``, which includes the summary,
#: beside the workflow diagram.  Snakemake centres that view in a box as high as the window, so a page taller than
#: the window is cut at its top, out of reach of the scroll bar, and it narrows the text to a column that wide tables
#: spill out of, under the diagram.  This style (inside the summary, so it applies while the page is shown) sets the
#: view from the top, gives the text the width beside the diagram, and scrolls a wide table within it.
FIRST_PAGE_STYLE = """<style>
div.h-screen.items-center.justify-center { align-items: flex-start !important; justify-content: flex-start !important; }
div.grow.flex.gap-3 > div.py-2 { flex: 1 1 0 !important; min-width: 0 !important; }
div.prose.max-w-lg { max-width: none !important; }
#rulegraph { flex: none !important; }
.stseg-table { overflow-x: auto; max-width: 100%; }
#stseg-summary code::before, #stseg-summary code::after { content: none !important; }
</style>"""


def _html_table(table: pd.DataFrame, caption: str, highlight: str | None = None, anchor: str | None = None) -> str:
    """An HTML table as wide as the page whose columns sort on a click (inline handlers: they work inside the
    Snakemake report), in a box that scrolls it sideways where the page is narrower; the row whose first cell is
    ``highlight`` is set in bold on a tinted background; ``anchor``: the box's id."""
    import html

    head = "".join(f'<th onclick="{_SORT}" style="cursor:pointer;padding:3px 10px;border-bottom:1px solid #888">'
                   f"{html.escape(str(c))} &#8597;</th>" for c in table.columns)
    body = []
    for row in table.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float):
                shown = "-" if np.isnan(value) else f"{value:.4f}"
                key = "" if np.isnan(value) else repr(value)
            else:
                shown = key = html.escape(str(value))
            cells.append(f'<td data-v="{key}" style="padding:3px 10px;text-align:right">{shown}</td>')
        marked = highlight is not None and str(row[0]) == highlight
        style = ' style="font-weight:bold;background:#fff3c4"' if marked else ""
        body.append(f"<tr{style}>" + "".join(cells) + "</tr>")
    box = f'<div class="stseg-table" id="{anchor}">' if anchor else '<div class="stseg-table">'
    return (f'{box}<table style="border-collapse:collapse;font-family:sans-serif;font-size:14px;margin:8px 0;width:100%">'
            f'<caption style="text-align:left;font-weight:bold">{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def best_single(overall: pd.DataFrame) -> tuple[str, float] | None:
    """The single model with the highest pooled true J&F, and that J&F (None without ground truth)."""
    singles = overall[~overall["method"].str.contains(":")].dropna(subset=["JF"])
    if singles.empty:
        return None
    row = singles.loc[singles["JF"].idxmax()]
    return str(row["method"]), float(row["JF"])


def pooled_table(overall: pd.DataFrame) -> pd.DataFrame:
    """``summary_overall.csv`` with ``gain``, each method's J&F minus the best single model's, and ``recovered``:
    that gain as a share of the per-video oracle's, ``(J&F - best) / (oracle:video - best)``, for the methods
    (NaN without ground truth, for single models, and when the oracle gains nothing).  1 is all of the per-video
    oracle's gain; above 1, more than picking the truly best model of each video gives (the per-object oracle
    and the fusion can); below 0, below the best single model."""
    table = overall.copy()
    best = best_single(table)
    oracle = table.loc[table["method"] == "oracle:video", "JF"]
    table["gain"] = table["JF"] - best[1] if best is not None else np.nan
    gain = float(oracle.iloc[0]) - best[1] if len(oracle) and best is not None else np.nan
    table["recovered"] = (table["JF"] - best[1]) / gain if best is not None and np.isfinite(gain) and gain > 0 else np.nan
    methods = table["method"].str.contains(":")
    table.loc[~methods, "recovered"] = np.nan  # a share of the gain, for the methods only
    return table


def summary_page(per_video: pd.DataFrame, overall: pd.DataFrame, calibration_png: str | os.PathLike[str] | None,
                 out: str | os.PathLike[str], strategy: str | None = None, resources: pd.DataFrame | None = None) -> None:
    """The report's first page: who won (the best single model, the final answer and its gain), the pooled table
    with the final answer's row highlighted, the per-(video, model) table (both sortable) and the calibration
    figure, as one self-contained HTML fragment as wide as the page.  ``strategy``: the configured one."""
    import base64
    import html

    final = f"selection:{strategy}" if strategy else None
    table = pooled_table(overall)
    best = best_single(overall)
    parts = [FIRST_PAGE_STYLE, '<div id="stseg-summary" style="font-family:sans-serif;width:100%;max-width:none">']
    if best is not None and final is not None and final in set(table["method"]):
        row = table[table["method"] == final].iloc[0]
        parts.append(f'<p id="stseg-headline" style="font-size:16px">Best single model: <b>{html.escape(best[0])}</b> (J&amp;F '
                     f"{best[1]:.4f}). Final answer (<code>{html.escape(strategy or '')}</code>): <b>J&amp;F "
                     f"{row['JF']:.4f}</b>, {row['gain']:+.4f} over the best single model.</p>")
    elif final is not None:
        estimate = table.loc[table["method"] == final, "pseudo_JF"]
        said = (f": estimated J&amp;F <b>{float(estimate.iloc[0]):.4f}</b>, its J&amp;F against the pseudo-labels (an "
                "estimate, not a score)") if len(estimate) and pd.notna(estimate.iloc[0]) else ""
        parts.append(f'<p id="stseg-headline" style="font-size:16px">No ground truth: the final answer (<code>{html.escape(strategy or "")}'
                     f"</code>) cannot be scored here{said}. Every model's and strategy's J&amp;F against the "
                     "pseudo-labels is shown; summary.txt says per video what the fusion removed and added.</p>")
    parts += [_html_table(table, "pooled over all objects", final, "stseg-pooled"),
              "<p>J, F and J&amp;F of each model, each final-answer strategy and the oracles, pooled over every "
              "object of every video (against the ground truth where there is some; the pseudo-label J&amp;F "
              "always). <i>gain</i>: J&amp;F minus the best single model's. <i>recovered</i>: that gain as a share "
              "of the per-video oracle's (1 = all of it; above 1 = better than picking the truly best model of "
              "each video, which the per-object oracle and the fusion can be; below 0 = below the best single "
              "model). The final answer's row is highlighted. Click a column to sort.</p>"]
    if calibration_png is not None and Path(calibration_png).is_file():
        data = base64.b64encode(Path(calibration_png).read_bytes()).decode()
        parts.append('<p><b>calibration</b>: pseudo-label J&amp;F against true J&amp;F, and the regret per video</p>'
                     f'<img style="width:100%;max-width:1400px" src="data:image/png;base64,{data}">')
    parts.append(_html_table(per_video, "per video and model (chosen_video: the per-video choice)"))
    if resources is not None and len(resources):
        parts += ["<p><b>resources</b> per model, over its jobs (what sizes the next run): the device and GPU they ran "
                  "on, frames, wall seconds per frame, the largest peak host memory (MB) and peak GPU memory (MB, "
                  "torch's own counter)</p>", _html_table(resources, "resources per model")]
    parts.append("</div>")
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(parts) + "\n")
