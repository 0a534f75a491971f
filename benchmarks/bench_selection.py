"""Every final-answer strategy on every dataset with ground truth: does the final answer beat the best single model?

Sets (each run through the workflow once with the default config, so the masks,
pseudo-labels and scores are the pipeline's own; then every strategy is applied
with stseg's own selection and fusion):

* ``demo``: the embedded synthetic demo (9 videos, ground truth per object);
* ``davis-fullgt``, ``davis-fullgt2``: real single-object DAVIS videos, ground truth on every frame;
* ``davis-multiobj``, ``davis-multiobj-extra``: real multi-object DAVIS videos, scored as *foreground* J&F against
  their per-frame foreground ground truth (``Annotations_union``);
* each DAVIS set with the built-in models only, with two real methods' published masks (OSVOS and DINO label
  propagation, ``Results/<method>``) as ``precomputed`` models that are only scored (``+real-scored``), and that
  also vote (``+real-votes``, listed in ``pgmr.models``).

Printed per set: each single model, each strategy, the per-video oracle (the
truly best model per video), the share of the oracle's gain over the best single
model recovered, Kendall's tau between the per-video selection score and the
true J&F over all (video, model) pairs, the mean regret (per-video J&F below the
per-video oracle), and how often ``auto`` chose the candidate (fusion, video
pick, object pick) that is truly best on the video.  Then, per strategy, J&F
minus each set's best single model, sorted by the worst case over the sets:
defaults are chosen by that worst case.

    python benchmarks/bench_selection.py [--work /tmp/stseg-bench-selection] [--shared ../shared/data]
                                         [--demo-frames N] [--demo-videos NAME ...]  (a smaller demo: a quick check)
                                         [--variants LABEL ...]  (only these strategies, e.g. "fuse (default)")
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stseg.dataset import list_frames  # noqa: E402
from stseg.masks import object_ids, read_label_map  # noqa: E402
from stseg.metrics import score_arrays  # noqa: E402
from stseg.scoring import score_models  # noqa: E402
from stseg.selection import dataset_prior, run_selection  # noqa: E402
from stseg.settings import ScoreSettings, SelectSettings, defaults  # noqa: E402
from stseg.tables import read_table  # noqa: E402

BUILTINS = {
    "copy": {"type": "copy"},
    "flow": {"type": "flow", "options": {"scale": 1.0, "preset": "medium"}},
    "global": {"type": "global", "options": {"transform": "homography"}},
    "appearance": {"type": "appearance"},
}
BUILTIN_VOTERS = ["flow", "global", "appearance"]
REAL = ("osvos", "dino")
DAVIS_SETS = (("davis-fullgt", False), ("davis-fullgt2", False), ("davis-multiobj", True), ("davis-multiobj-extra", True))

#: (label, select settings changes, score settings changes): STSeg's rule, the picks, the vote, the fusion's variants
VARIANTS = [
    ("video, STSeg rule", {"strategy": "video", "edge_power": 0.0, "prior_margin": None, "absent": "score"}, {"absent": "score"}),
    ("video", {"strategy": "video"}, {}),
    ("object", {"strategy": "object"}, {}),
    ("vote", {"strategy": "vote"}, {}),
    ("fuse (default)", {"strategy": "fuse"}, {}),
    ("fuse, uniform reliability", {"strategy": "fuse", "fuse_reliability": "uniform"}, {}),
    ("fuse, pixel level", {"strategy": "fuse", "fuse_level": "pixel"}, {}),
    ("fuse, pixel level, uniform", {"strategy": "fuse", "fuse_level": "pixel", "fuse_reliability": "uniform"}, {}),
    ("fuse, support 0.4", {"strategy": "fuse", "fuse_support": 0.4}, {}),
    ("fuse, support 0.6", {"strategy": "fuse", "fuse_support": 0.6}, {}),
    ("fuse, tolerance 0.008", {"strategy": "fuse", "fuse_tolerance": 0.008}, {}),
    ("fuse, tolerance 0.032", {"strategy": "fuse", "fuse_tolerance": 0.032}, {}),
    ("auto, margin 0.25", {"strategy": "auto"}, {}),
    ("auto, margin 0", {"strategy": "auto", "auto_margin": 0.0}, {}),
]


def run_workflow(name: str, root: Path, work: Path, real: str) -> Path:
    """``real``: "" (built-ins only), "scored" (OSVOS and DINO as candidates) or "votes" (candidates and voters)."""
    models = dict(BUILTINS)
    voters = list(BUILTIN_VOTERS)
    if real:
        models.update({m: {"type": "precomputed", "options": {"path": str(root / "Results" / m)}} for m in REAL})
    if real == "votes":
        voters += list(REAL)
    results = work / name
    config = {"dataset": {"root": str(root), "ground_truth": "no"}, "results": str(results), "models": models,
              "pgmr": {"models": voters}}
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--configfile",
                    str(config_file), "--cores", str(os.cpu_count() or 2), "--quiet"], check=True, cwd=work,
                   capture_output=True)
    return results


class Truth:
    """J&F of a folder of masks against a set's ground truth: per object, or foreground (``Annotations_union``)."""

    def __init__(self, root: Path, foreground: bool) -> None:
        self.root, self.foreground = root, foreground

    def __call__(self, video: str, masks: Path) -> list[float]:
        gt_dir = self.root / ("Annotations_union" if self.foreground else "Annotations") / video
        frames = sorted(p.stem for p in gt_dir.glob("*.png"))[1:-1]
        if self.foreground:
            pairs = (((read_label_map(gt_dir / f"{f}.png") > 0).astype(np.uint8),
                      (read_label_map(masks / f"{f}.png", allow_greyscale=True) > 0).astype(np.uint8), f) for f in frames)
            objects: tuple[int, ...] = (1,)
        else:
            objects = object_ids(read_label_map(gt_dir / "00000.png"))
            pairs = ((read_label_map(gt_dir / f"{f}.png"), read_label_map(masks / f"{f}.png", allow_greyscale=True), f)
                     for f in frames)
        return [r["JF"] for r in score_arrays(pairs, objects, video, frames).rows()]


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def evaluate_set(name: str, root: Path, results: Path, truth: Truth, voters: list[str],
                 variants: list = VARIANTS) -> tuple[pd.DataFrame, list]:
    videos = sorted(p.name for p in (results / "final").iterdir() if p.is_dir())
    models = [m for m in [*BUILTINS, *REAL] if (results / "masks" / m).is_dir()]
    true = {(v, m): truth(v, results / "masks" / m / v) for v in videos for m in models}
    rows = []
    pooled = lambda picks: float(np.mean([x for v in videos for x in picks[v]]))  # noqa: E731
    for m in models:
        rows.append((f"single: {m}", m, pooled({v: true[v, m] for v in videos}), np.nan, np.nan))
    best_single = max(r[2] for r in rows)
    oracle = pooled({v: max((true[v, m] for m in models), key=np.mean) for v in videos})
    rows.append(("oracle", "per video", oracle, np.nan, 0.0))
    masks = {v: {m: results / "masks" / m / v for m in models} for v in videos}
    files = {v: list_frames(root / "JPEGImages" / v) for v in videos}
    tables = {"skip": {v: read_table(results / "scores" / f"{v}.csv") for v in videos}}
    tables["score"] = {v: score_models(v, masks[v], results / "pseudo" / v, defaults(ScoreSettings, absent="score"),
                                       None, files[v]).assign(video=v) for v in videos}
    auto_hits = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, changes, score_changes in variants:
            settings = defaults(SelectSettings, **changes)
            video_scores = tables[score_changes.get("absent", "skip")]
            prior = dataset_prior(list(video_scores.values()), models, settings.edge_power)
            picks, regret, scores = {}, [], {}
            for v in videos:
                out = Path(tmp) / label / v
                table, _ = run_selection(v, video_scores[v], models, masks[v], out, settings, results / "pseudo" / v,
                                         None, prior, voters, files[v])
                picks[v] = truth(v, out)
                regret.append(max(np.mean(true[v, m]) for m in models) - np.mean(picks[v]))
                level = table[table["level"] == "video"].set_index("model")
                scores.update({(v, m): float(level.loc[m, "score"]) for m in models})
                if label == "auto, margin 0.25":
                    auto_hits.append((name, v, table[table["level"] == "strategy"], masks[v], out))
            tau = kendall_tau(np.array([scores[k] for k in true]), np.array([np.mean(true[k]) for k in true]))
            rows.append((label, "", pooled(picks), tau if label.startswith("video") else np.nan, float(np.mean(regret))))
    table = pd.DataFrame(rows, columns=["strategy", "variant", "JF", "tau", "regret"])
    gain = oracle - best_single
    table["recovered"] = (table["JF"] - best_single) / gain if gain > 1e-9 else np.nan
    table["vs_best_single"] = table["JF"] - best_single
    return table.assign(set=name), auto_hits


def auto_accuracy(name: str, root: Path, results: Path, truth: Truth, hits: list, voters: list[str]) -> list[tuple]:
    """Per video: ``auto``'s choice and whether it is the candidate with the best true J&F."""
    rows = []
    models = [m for m in [*BUILTINS, *REAL] if (results / "masks" / m).is_dir()]
    scores = {v: read_table(results / "scores" / f"{v}.csv") for v in sorted(p.name for p in (results / "final").iterdir())}
    prior = dataset_prior(list(scores.values()), models, defaults(SelectSettings).edge_power)
    with tempfile.TemporaryDirectory() as tmp:
        for _, video, strategy_rows, masks, _ in hits:
            chosen = str(strategy_rows[strategy_rows["chosen"] == 1]["model"].iloc[0])
            values = {}
            for candidate in strategy_rows["model"]:
                out = Path(tmp) / candidate / video
                run_selection(video, scores[video], models, masks, out, defaults(SelectSettings, strategy=candidate),
                              results / "pseudo" / video, None, prior, voters, list_frames(root / "JPEGImages" / video))
                values[candidate] = float(np.mean(truth(video, out)))
            best = max(values.values())
            rows.append((name, video, chosen, values[chosen] >= best - 1e-9, values))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stseg-bench-selection")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--demo-frames", type=int, help="cut the demo's videos to this many frames (default: all)")
    parser.add_argument("--demo-videos", nargs="*", help="only these of the demo's videos (default: all nine)")
    parser.add_argument("--sets", nargs="*", help="only these sets (names as printed)")
    parser.add_argument("--variants", nargs="*", help="only these strategies (labels as printed)")
    args = parser.parse_args()
    demo = args.work / "demo-data"
    if not demo.exists():
        from stseg.demo import write_demo

        write_demo(demo, videos=args.demo_videos, max_frames=args.demo_frames)
    sets = [("demo", demo, False, "")]
    for name, foreground in DAVIS_SETS:
        if (args.shared / name).is_dir():
            sets += [(name, args.shared / name, foreground, ""),
                     (f"{name}+real-scored", args.shared / name, foreground, "scored"),
                     (f"{name}+real-votes", args.shared / name, foreground, "votes")]
        else:
            print(f"{args.shared / name} absent: skipped")
    if args.sets:
        sets = [s for s in sets if s[0] in args.sets]
    tables, accuracy = [], []
    for name, root, foreground, real in sets:
        results = run_workflow(name, root, args.work, real)
        voters = BUILTIN_VOTERS + (list(REAL) if real == "votes" else [])
        truth = Truth(root, foreground)
        variants = [v for v in VARIANTS if not args.variants or v[0] in args.variants]
        table, hits = evaluate_set(name, root, results, truth, voters, variants)
        tables.append(table)
        accuracy += auto_accuracy(name, root, results, truth, hits, voters)
        print(f"\n== {name} ({'foreground' if foreground else 'per-object'} J&F)")
        print(table.drop(columns=["set", "variant"]).to_string(index=False, float_format=lambda x: f"{x:.4f}"), flush=True)
    everything = pd.concat(tables, ignore_index=True)
    everything.to_csv(args.work / "selection.csv", index=False)
    keyed = everything[~everything["strategy"].str.startswith("single")].copy()
    per_set = keyed.pivot_table(index="strategy", columns="set", values="vs_best_single", sort=False)
    per_set.columns = [c.replace("davis-", "") for c in per_set.columns]
    per_set["worst"] = per_set.min(axis=1)
    per_set["mean"] = per_set.drop(columns="worst").mean(axis=1)
    print("\n== J&F minus the best single model of each set; sorted by the worst case over sets")
    print(per_set.sort_values(["worst", "mean"], ascending=False).to_string(float_format=lambda x: f"{x:+.3f}"))
    right = sum(ok for *_, ok, _ in accuracy)
    print(f"\n== auto (margin 0.25) chose the truly best of its candidates on {right} of {len(accuracy)} videos")
    for name, video, chosen, ok, values in accuracy:
        if not ok:
            print(f"  {name} {video}: chose {chosen}; true J&F " + ", ".join(f"{c} {x:.3f}" for c, x in values.items()))


if __name__ == "__main__":
    main()
